// Tests of printable(): what a terminal would obey is escaped as `ls -b` and
// lsof do, valid UTF-8 is kept, and excerpts of long input stay short.
#include <gtest/gtest.h>

#include <string>

#include "report/printable.h"

namespace fdtrack {
namespace {

TEST(Printable, PlainTextAndUtf8AreKept) {
    EXPECT_EQ(printable("/srv/app/main.py"), "/srv/app/main.py");
    EXPECT_EQ(printable("héllo wörld ✓ 𝄞"), "héllo wörld ✓ 𝄞");
    EXPECT_EQ(printable(""), "");
}

TEST(Printable, ControlCharactersAreEscaped) {
    EXPECT_EQ(printable("\x1b[2J\nFAKE fdtrack: No leaks."), "\\e[2J\\nFAKE fdtrack: No leaks.");
    EXPECT_EQ(printable("a\tb\rc"), "a\\tb\\rc");
    EXPECT_EQ(printable(std::string("nul\0del\x7f", 8)), "nul\\x00del\\x7f");
    EXPECT_EQ(printable("\x07\x08\x1f"), "\\x07\\x08\\x1f");
}

TEST(Printable, BackslashIsDoubledSoTheEscapesAreUnambiguous) {
    EXPECT_EQ(printable("C:\\n"), "C:\\\\n");
    EXPECT_NE(printable("\\n"), printable("\n"));
}

TEST(Printable, C1ControlsAreEscaped) {
    // U+009B is CSI on terminals that obey C1 controls.
    EXPECT_EQ(printable("a\xc2\x9b" "2Jb"), "a\\xc2\\x9b2Jb");
    EXPECT_EQ(printable("\xc2\x85"), "\\xc2\\x85");
    EXPECT_EQ(printable("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is printable
}

TEST(Printable, InvalidUtf8IsEscapedBytewise) {
    EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
    EXPECT_EQ(printable("\x9b"), "\\x9b");                 // a raw 8-bit CSI
    EXPECT_EQ(printable("\xc3"), "\\xc3");                 // truncated
    EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");        // overlong '/'
    EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
    EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
    EXPECT_EQ(printable("\xe2\x9c"), "\\xe2\\x9c");        // a truncated ✓
    EXPECT_EQ(printable("\xe2\x9c" "a"), "\\xe2\\x9ca");
}

TEST(Printable, OutputHasNoControlBytesWhateverTheInput) {
    std::string every_byte;
    for (int c = 0; c < 256; ++c) every_byte += static_cast<char>(c);
    for (std::string text : {every_byte, every_byte + every_byte.substr(0xc0)}) {
        for (unsigned char c : printable(text)) EXPECT_TRUE(c >= 0x20 && c != 0x7f) << int(c);
    }
}

TEST(PrintableExcerpt, ShortTextIsWholeLongTextIsCutAndSized) {
    EXPECT_EQ(printable_excerpt("short\n"), "short\\n");
    std::string huge(10'000'000, 'x');
    std::string excerpt = printable_excerpt(huge, 40);
    EXPECT_EQ(excerpt, std::string(40, 'x') + "... (10000000 bytes)");
    // Cut on a character boundary: no half of a ✓ becomes \xNN.
    std::string checks;
    for (int i = 0; i < 30; ++i) checks += "✓";
    EXPECT_EQ(printable_excerpt(checks, 10), "✓✓✓... (90 bytes)");
}

}  // namespace
}  // namespace fdtrack
