package io.osprey.annotations;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.osprey.testing.UnitTest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A create's base64 image is decoded exactly as the MIME decoder decodes it, whichever decoder does the work. */
@UnitTest
class CreateRequestsTest {
  /** The MIME decoder's bytes, or the exception's class name when it refuses the text. */
  private static Object mime(String s) {
    try {
      return Base64.getMimeDecoder().decode(s);
    } catch (IllegalArgumentException e) {
      return e.getClass().getName();
    }
  }

  private static Object ours(String s) {
    try {
      return CreateRequests.base64(s);
    } catch (IllegalArgumentException e) {
      return e.getClass().getName();
    }
  }

  private static void same(String s) {
    Object expected = mime(s);
    Object actual = ours(s);
    if (expected instanceof byte[] e && actual instanceof byte[] a) {
      assertArrayEquals(e, a, s);
    } else {
      assertEquals(expected, actual, s);
    }
  }

  @Test
  void textWithLineBreaksJunkOrBadPaddingDecodesAsTheMimeDecoderDecodesIt() {
    byte[] bytes = new byte[1000];
    new Random(7).nextBytes(bytes);
    String plain = Base64.getEncoder().encodeToString(bytes);
    List<String> cases = new ArrayList<>(List.of(plain, Base64.getMimeEncoder().encodeToString(bytes),
        plain.substring(0, plain.length() - 2), plain + "\n", " " + plain, plain + "=", plain + "==", plain + "AB",
        "A", "AB", "ABC", "ABCD", "AB==", "AB=", "A===", "AB=C", "AB==CD", "====", "", "\u00e9\u00e9\u00e9\u00e9",
        "QUJD\u2603REVG", "QUJD*REVG", "QUJDREVG\u0000", "data,QUJD", "QU JD", "QUJD\r\nREVG"));
    Random random = new Random(16);
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\r -_*\u00ff\u0100";
    for (int i = 0; i < 5000; i++) {
      StringBuilder b = new StringBuilder();
      int n = random.nextInt(12);
      for (int j = 0; j < n; j++) {
        b.append(random.nextInt(3) > 0 ? alphabet.charAt(random.nextInt(64))
            : alphabet.charAt(random.nextInt(alphabet.length())));
      }
      cases.add(b.toString());
    }
    cases.forEach(CreateRequestsTest::same);
  }
}
