package io.osprey.jobs;

import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Predict requests per budget per minute (fixed one-minute windows). A budget is a token's subject, or for callers
 * without a token their client address, so one anonymous caller cannot spend another's budget. The count is kept
 * in Redis so every API instance shares one budget; every instance also counts in process, and while Redis is
 * unreachable that count decides (the same limit, per instance) instead of the limit switching off.
 */
public final class RateLimiter {
  private static final Logger LOG = LoggerFactory.getLogger(RateLimiter.class);
  /** Most budgets counted in process in one window; beyond it new budgets share one (memory stays bounded). */
  static final int MAX_LOCAL_BUDGETS = 100_000;
  private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
  private static final Pattern HEXTET = Pattern.compile("[0-9a-fA-F]{1,4}");

  private final Redis redis;
  private final String prefix;
  private final int perMinute;
  private final boolean trustForwardedFor;
  private final LocalCounter local = new LocalCounter(MAX_LOCAL_BUDGETS);
  private volatile long lastWarning;

  public RateLimiter(Redis redis, String prefix, int perMinute, boolean trustForwardedFor) {
    this.redis = redis;
    this.prefix = prefix;
    this.perMinute = perMinute;
    this.trustForwardedFor = trustForwardedFor;
  }

  /**
   * The budget a predict request counts against: {@code sub:<subject>} for a caller with a token, else
   * {@code addr:<client address>}: the socket's remote address, or the last entry of X-Forwarded-For when
   * jobs.rate_limit_trust_forwarded_for is on (the entry the nearest proxy appended; earlier ones are the client's
   * say-so). IPv6 addresses count by their /64, which one host can usually fill at will.
   */
  public String budget(String subject, boolean anonymous, String remoteAddress, List<String> forwardedFor) {
    if (!anonymous) {
      return "sub:" + (subject.length() <= 128 ? subject : sha256(subject));
    }
    String address = null;
    if (trustForwardedFor && forwardedFor != null && !forwardedFor.isEmpty()) {
      String header = forwardedFor.get(forwardedFor.size() - 1);
      address = addressKey(header.substring(header.lastIndexOf(',') + 1));
    }
    if (address == null) {
      address = addressKey(remoteAddress);
    }
    return "addr:" + (address == null ? "unknown" : address);
  }

  /** Seconds to wait when {@code budget} is over the limit, or 0 when the request may go ahead. */
  public Future<Integer> acquire(String budget) {
    if (perMinute <= 0) {
      return Future.succeededFuture(0);
    }
    long now = System.currentTimeMillis() / 1000;
    long window = now / 60;
    int wait = (int) (60 - now % 60);
    int localCount = local.increment(budget, window);
    String key = prefix + "rate:predict:" + budget + ":" + window;
    return redis.send(Request.cmd(Command.INCR).arg(key))
        .compose(count -> redis.send(Request.cmd(Command.EXPIRE).arg(key).arg(120)).map(x -> count.toLong()))
        .timeout(250, TimeUnit.MILLISECONDS)
        .otherwise(e -> {
          warnFallback(e);
          return (long) localCount;
        })
        .map(count -> count > perMinute ? wait : 0);
  }

  private void warnFallback(Throwable e) {
    long now = System.currentTimeMillis();
    if (now - lastWarning > 60_000) {
      lastWarning = now;
      LOG.warn("predict rate limit counted in process (per instance) while Redis is unreachable: {}", e.toString());
    }
  }

  /**
   * A canonical key for an IP address literal (IPv4 as is, IPv6 as its /64, IPv4-mapped IPv6 as the IPv4), or
   * null when {@code text} is not one. Parsed by hand: InetAddress would resolve a host name, blocking.
   */
  static String addressKey(String text) {
    if (text == null) {
      return null;
    }
    String s = text.strip();
    if (s.startsWith("[") && s.endsWith("]")) {
      s = s.substring(1, s.length() - 1);
    }
    int zone = s.indexOf('%');
    if (zone >= 0) {
      s = s.substring(0, zone);
    }
    if (s.isEmpty() || s.length() > 45) {
      return null;
    }
    if (IPV4.matcher(s).matches()) {
      return s;
    }
    if (!s.contains(":")) {
      return null;
    }
    int lastColon = s.lastIndexOf(':');
    if (s.indexOf('.') > lastColon) {
      String v4 = s.substring(lastColon + 1);
      return IPV4.matcher(v4).matches() ? v4 : null; // ::ffff:a.b.c.d and the like
    }
    int gap = s.indexOf("::");
    if (gap >= 0 && s.indexOf("::", gap + 1) >= 0) {
      return null;
    }
    String[] head = gap < 0 ? s.split(":", -1) : s.substring(0, gap).isEmpty() ? new String[0]
        : s.substring(0, gap).split(":", -1);
    String[] tail = gap < 0 ? new String[0] : s.substring(gap + 2).isEmpty() ? new String[0]
        : s.substring(gap + 2).split(":", -1);
    int missing = 8 - head.length - tail.length;
    if (gap < 0 ? head.length != 8 : missing < 1) {
      return null;
    }
    String[] groups = new String[8];
    for (int i = 0; i < 8; i++) {
      groups[i] = i < head.length ? head[i] : i < head.length + missing ? "0" : tail[i - head.length - missing];
      if (!HEXTET.matcher(groups[i]).matches()) {
        return null;
      }
    }
    StringBuilder key = new StringBuilder();
    for (int i = 0; i < 4; i++) {
      key.append(Integer.toHexString(Integer.parseInt(groups[i], 16))).append(':');
    }
    return key.append(":/64").toString();
  }

  private static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Counts per budget in the current fixed window only: when the window turns, every older count is worthless and
   * is dropped at once, so memory holds one window's budgets, and at most {@code maxBudgets} of them: past that,
   * new budgets share one overflow budget (a caller spraying addresses is limited as one, not left unlimited).
   */
  static final class LocalCounter {
    static final String OVERFLOW = "overflow";
    private final int maxBudgets;
    private Map<String, int[]> counts = new HashMap<>();
    private long window = Long.MIN_VALUE;

    LocalCounter(int maxBudgets) {
      this.maxBudgets = maxBudgets;
    }

    synchronized int increment(String budget, long window) {
      if (window != this.window) {
        counts = new HashMap<>();
        this.window = window;
      }
      int[] count = counts.get(budget);
      if (count == null) {
        count = counts.computeIfAbsent(counts.size() >= maxBudgets ? OVERFLOW : budget, k -> new int[1]);
      }
      return ++count[0];
    }

    synchronized int size() {
      return counts.size();
    }
  }
}
