// retain/suite/sources/pod.h — the running text of Perl's POD documentation (perl-doc's *.pod).
#pragma once

#include <string>
#include <vector>

namespace retain::suite {

/// The ordinary paragraphs of a POD document, each on one line, in document order. Left out: command
/// paragraphs (=head1, =item, …; an "=item" paragraph's own text too), verbatim paragraphs (starting
/// with whitespace), =begin…=end and =for blocks, and anything outside =pod…=cut in a file that starts
/// with code. Formatting codes are reduced to their text: B<…>, I<…>, C<…>, F<…>, S<…> → their
/// contents (also the C<< … >> form), L<text|target> → text, L<name> → name, E<lt>/E<gt>/E<verbar>/
/// E<sol>/E<NNN> → the character, X<…> and Z<> → nothing.
std::vector<std::string> pod_paragraphs(const std::string& text);

/// Formatting codes of one paragraph reduced to their text, as pod_paragraphs does.
std::string strip_pod_codes(const std::string& paragraph);

}  // namespace retain::suite
