package io.osprey.outbox;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.vertx.core.json.JsonObject;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How large a stream message may be on this connection, and whether every image the service accepts fits in one.
 *
 * <p>A stream protocol connection agrees on a largest frame when it opens: the broker's Tune frame offers its
 * {@code stream.frame_max}, the client answers with the smaller of that and what it requested (0 on either side
 * means no limit). A published message must fit in one frame. stream-client 1.11 requests 1 MiB unless told
 * otherwise and keeps the agreed value to itself (no public getter), so the publisher requests what
 * {@code stream.max_message_bytes} needs and this class reads both Tune frames as they pass: a Netty handler added
 * through the client's public {@code netty().channelCustomizer}, placed after the client's frame decoder, reading
 * the documented Tune layout (key 20, version, frame max, heartbeat) without consuming anything, and removed once
 * the answer went out.
 *
 * <p>Messages larger than the agreed frame would be refused by the client on every attempt (the outbox would stall
 * on them), so the drainer's limit is the smaller of the configuration and the agreed frame less its overhead;
 * a Created image that does not fit goes out as {@code imageOmitted: too_large}. Each new outcome is logged once,
 * and {@link #readiness()} shows it in {@code /health/ready}.
 */
public final class StreamFrames {
  private static final Logger LOG = LoggerFactory.getLogger(StreamFrames.class);
  /** The Tune command's key in the stream protocol (the client's answer sets the response bit, 0x8000). */
  private static final int TUNE = 20;
  /**
   * Frame bytes around a message body: the publish frame's header (the client counts 24 bytes per message) and the
   * AMQP 1.0 sections of our messages (properties, application properties, the data section's header), under
   * 1 KiB; rounded up.
   */
  static final int FRAME_OVERHEAD = 4096;
  /** Room for the MessagePack fields (detections included) and gzip's framing next to an inline image. */
  static final int ENVELOPE_BYTES = 16 * 1024;

  private final int configuredMaxMessageBytes;
  private final long maxImageBytes;
  private final String stream;
  private volatile Tune tune;

  /** What one connection agreed: the broker's offer and the frame size both sides use (0 = no limit). */
  public record Tune(int brokerFrameMax, int negotiatedFrameMax) {
  }

  public StreamFrames(OutboxSettings settings) {
    this.configuredMaxMessageBytes = settings.stream().maxMessageBytes();
    this.maxImageBytes = settings.maxImageBytes();
    this.stream = settings.streamName();
  }

  /** The frame size the publisher asks for: the largest configured message plus its frame overhead. */
  public int requestedFrameMax() {
    return configuredMaxMessageBytes + FRAME_OVERHEAD;
  }

  /** The last agreement seen, or null before any connection reached the broker. */
  public Tune tune() {
    return tune;
  }

  /** The largest body the drainer publishes: the configuration, lowered to what the agreed frame can carry. */
  public int maxMessageBytes() {
    Tune t = tune;
    if (t == null || t.negotiatedFrameMax() <= 0) {
      return configuredMaxMessageBytes;
    }
    return Math.max(0, Math.min(configuredMaxMessageBytes, t.negotiatedFrameMax() - FRAME_OVERHEAD));
  }

  /** About the largest image that travels inline (the exact test is on the encoded body). */
  public long maxInlineImageBytes() {
    return Math.max(0, maxMessageBytes() - ENVELOPE_BYTES);
  }

  /** Whether some image the service accepts (annotations.max_image_bytes) would go out without its bytes. */
  public boolean imagesOmitted() {
    return maxInlineImageBytes() < maxImageBytes;
  }

  /** A customizer for {@code EnvironmentBuilder.netty().channelCustomizer}: watches each connection's Tune. */
  public Consumer<Channel> channelCustomizer() {
    return channel -> {
      String decoder = null;
      for (Map.Entry<String, ChannelHandler> e : channel.pipeline()) {
        if (e.getValue() instanceof LengthFieldBasedFrameDecoder) {
          decoder = e.getKey();
        }
      }
      if (decoder == null) {
        // Another client version with another pipeline: say so rather than guess from raw bytes.
        LOG.warn("stream frames: no frame decoder in the stream client's pipeline; the agreed frame size stays"
            + " unknown and the drainer keeps stream.max_message_bytes ({} bytes)", configuredMaxMessageBytes);
        return;
      }
      channel.pipeline().addAfter(decoder, "osprey-tune-watch", new TuneWatch());
    };
  }

  /** Between the frame decoder (whole frames, length stripped) and the client's handler. */
  private final class TuneWatch extends ChannelDuplexHandler {
    private int offered = -1;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
      // Server Tune: key, version, frame max, heartbeat.
      if (msg instanceof ByteBuf b && b.readableBytes() == 12
          && (b.getUnsignedShort(b.readerIndex()) & 0x7FFF) == TUNE) {
        offered = b.getInt(b.readerIndex() + 4);
      }
      super.channelRead(ctx, msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
      // The client's answer, with its length prefix: size 12, key, version, frame max, heartbeat.
      boolean answer = msg instanceof ByteBuf b && b.readableBytes() == 16 && b.getInt(b.readerIndex()) == 12
          && (b.getUnsignedShort(b.readerIndex() + 4) & 0x7FFF) == TUNE;
      int agreed = answer ? ((ByteBuf) msg).getInt(((ByteBuf) msg).readerIndex() + 8) : 0;
      super.write(ctx, msg, promise);
      if (answer) {
        ctx.pipeline().remove(this);
        agreed(new Tune(offered, agreed));
      }
    }
  }

  private synchronized void agreed(Tune t) {
    if (t.equals(tune)) {
      return;
    }
    tune = t;
    LOG.atLevel(imagesOmitted() ? org.slf4j.event.Level.WARN : org.slf4j.event.Level.INFO).log(summary());
  }

  /** The log line: what was agreed, and which images travel inline. */
  public String summary() {
    Tune t = tune;
    String agreed = t == null ? "not agreed yet (no connection to the broker so far)"
        : "broker offers " + limit(t.brokerFrameMax()) + ", agreed " + limit(t.negotiatedFrameMax()) + " (requested "
            + requestedFrameMax() + " for stream.max_message_bytes " + configuredMaxMessageBytes + ")";
    String head = "stream frames (" + stream + "): " + agreed + "; ";
    if (!imagesOmitted()) {
      return head + "every image up to annotations.max_image_bytes (" + maxImageBytes + ") travels inline";
    }
    String cause = maxMessageBytes() < configuredMaxMessageBytes
        ? "the broker's stream.frame_max is too small: raise it (scripts/services.sh, docker/rabbitmq/rabbitmq.conf)"
        : "stream.max_message_bytes is below annotations.max_image_bytes plus " + ENVELOPE_BYTES + " bytes";
    return head + "images over about " + maxInlineImageBytes() + " bytes (accepted up to " + maxImageBytes
        + ") go to the stream without their bytes (imageOmitted: too_large): " + cause;
  }

  private static String limit(int bytes) {
    return bytes == 0 ? "no limit" : bytes < 0 ? "unknown" : bytes + " bytes";
  }

  /** For the outbox check of /health/ready. */
  public JsonObject readiness() {
    Tune t = tune;
    JsonObject out = new JsonObject().put("maxMessageBytes", maxMessageBytes())
        .put("maxInlineImageBytes", maxInlineImageBytes());
    if (t != null) {
      out.put("frameMaxBroker", t.brokerFrameMax()).put("frameMaxNegotiated", t.negotiatedFrameMax());
    } else {
      out.put("frameMaxNegotiated", "unknown: not connected to the stream yet");
    }
    if (imagesOmitted()) {
      out.put("imageOmitted", "too_large").put("imageOmittedAboveBytes", maxInlineImageBytes())
          .put("imageOmittedReason", summary());
    }
    return out;
  }
}
