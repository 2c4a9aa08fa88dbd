// retain/suite/sources/sword.h — Bible texts in SWORD "zText" modules (sword-text-kjv, sword-text-web).
//
// A module folder holds, per testament (ot, nt): NAME.bzs — blocks, 12 bytes each (u32 offset, u32
// compressed size, u32 uncompressed size, little-endian) into NAME.bzz, each block a zlib stream;
// NAME.bzv — one 10-byte entry per verse slot (u32 block, u32 offset, u16 size) into the
// uncompressed block. Slots follow the module's versification: module and testament headings, then
// per book a heading slot and per chapter a heading slot holding `<chapter osisID="Gen.1" .../>`,
// then the verses. This reader needs no versification table: a chapter heading names book and
// chapter, and the slots after it are verses 1, 2, ...
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace retain::suite {

struct BibleVerse {
  std::string book;  // OSIS book id: "Gen", "Matt", ...
  int chapter = 0;
  int verse = 0;
  std::string text;  // plain text: markup removed, footnotes and headings dropped
};

/// OSIS markup → plain text: <note>…</note> and <title>…</title> dropped with their content, every
/// other tag removed, whitespace normalised.
std::string osis_plain_text(const std::string& osis);

/// Every non-empty verse of the module in `dir` (the folder with ot.bz* and/or nt.bz*), in order.
/// Throws naming the file for a missing index or an entry outside its block.
std::vector<BibleVerse> read_sword_ztext(const std::filesystem::path& dir);

/// The genre of an OSIS book id: "law", "history", "poetry", "prophets", "gospels", "epistles",
/// or "" for books outside the 66 of the Protestant canon.
std::string bible_genre(const std::string& book);

}  // namespace retain::suite
