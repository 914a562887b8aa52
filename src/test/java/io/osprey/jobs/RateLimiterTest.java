package io.osprey.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.osprey.testing.UnitTest;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which budget a request counts against, and the bounds of the in-process count. */
@UnitTest
class RateLimiterTest {
  private static RateLimiter limiter(boolean trustForwardedFor) {
    return new RateLimiter(null, "t:", 3, trustForwardedFor);
  }

  @Test
  void tokenCallersCountBySubjectAnonymousOnesByAddress() {
    RateLimiter l = limiter(false);
    assertEquals("sub:alice", l.budget("alice", false, "10.0.0.1", List.of()));
    assertEquals("addr:10.0.0.1", l.budget("anonymous", true, "10.0.0.1", List.of()));
    assertEquals("addr:10.0.0.2", l.budget("anonymous", true, "10.0.0.2", List.of()));
    assertEquals("addr:unknown", l.budget("anonymous", true, null, List.of()));
    String longSubject = "x".repeat(5000);
    assertTrue(l.budget(longSubject, false, null, List.of()).length() < 100, "long subjects are hashed");
  }

  @Test
  void forwardedForIsIgnoredUnlessTrustedAndThenOnlyItsLastEntryCounts() {
    assertEquals("addr:10.0.0.1", limiter(false).budget("anonymous", true, "10.0.0.1", List.of("1.2.3.4")));
    RateLimiter trusting = limiter(true);
    assertEquals("addr:5.6.7.8", trusting.budget("anonymous", true, "10.0.0.1", List.of("1.2.3.4, 5.6.7.8")));
    assertEquals("addr:5.6.7.8", trusting.budget("anonymous", true, "10.0.0.1", List.of("1.2.3.4", "9.9.9.9,5.6.7.8")));
    assertEquals("addr:10.0.0.1", trusting.budget("anonymous", true, "10.0.0.1", List.of("1.2.3.4, not-an-ip")),
        "junk falls back to the socket address");
    assertEquals("sub:bob", trusting.budget("bob", false, "10.0.0.1", List.of("1.2.3.4")));
  }

  @Test
  void addressesAreCanonicalAndIpv6CountsByItsSlash64() {
    assertEquals("192.0.2.1", RateLimiter.addressKey(" 192.0.2.1 "));
    assertEquals("2001:db8:0:1::/64", RateLimiter.addressKey("2001:db8:0:1:aaaa:bbbb:cccc:dddd"));
    assertEquals("2001:db8:0:1::/64", RateLimiter.addressKey("2001:0db8:0000:0001::1"));
    assertEquals("2001:db8:0:1::/64", RateLimiter.addressKey("[2001:db8:0:1::2%eth0]"));
    assertEquals("0:0:0:0::/64", RateLimiter.addressKey("::1"));
    assertEquals("192.0.2.1", RateLimiter.addressKey("::ffff:192.0.2.1"));
    for (String junk : new String[] {null, "", "localhost", "dead", "1::2::3", "1:2:3:4:5:6:7", "12345::1",
        "1:2:3:4:5:6:7:8:9", "x".repeat(100)}) {
      assertNull(RateLimiter.addressKey(junk), junk);
    }
  }

  @Test
  void localCountsReachTheLimitPerBudgetAndStartAfreshEachWindow() {
    RateLimiter.LocalCounter c = new RateLimiter.LocalCounter(100);
    assertEquals(1, c.increment("addr:a", 7));
    assertEquals(2, c.increment("addr:a", 7));
    assertEquals(1, c.increment("addr:b", 7));
    assertEquals(1, c.increment("addr:a", 8), "a new window");
    assertEquals(1, c.size(), "older windows are dropped at once");
  }

  @Test
  void localMemoryIsBoundedNewBudgetsBeyondTheCapShareOne() {
    RateLimiter.LocalCounter c = new RateLimiter.LocalCounter(1000);
    for (int i = 0; i < 50_000; i++) {
      c.increment("addr:10.0." + (i / 256) + "." + (i % 256), 1);
    }
    assertTrue(c.size() <= 1001, "entries " + c.size());
    // The 49,000 addresses beyond the cap were counted together, so they are limited as one caller.
    assertEquals(49_001, c.increment("addr:203.0.113.9", 1));
    assertEquals(2, c.increment("addr:10.0.0.0", 1), "budgets within the cap keep their own count");
  }
}
