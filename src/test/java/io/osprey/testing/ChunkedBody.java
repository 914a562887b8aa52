package io.osprey.testing;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The body of a chunked HTTP/1.1 response read off a raw socket, for tests that pace their reading to prove a
 * download is streamed. The connection closing before the last (empty) chunk is an error, as for any client.
 */
public final class ChunkedBody extends InputStream {
  private final InputStream in;
  private int left;
  private boolean done;

  public ChunkedBody(InputStream in) {
    this.in = in;
  }

  /** One CRLF- (or LF-) terminated line of a response head or chunk framing, without its terminator. */
  public static String line(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (int c = in.read(); c != '\n'; c = in.read()) {
      if (c < 0) {
        throw new EOFException("the connection closed inside a line");
      }
      if (c != '\r') {
        b.write(c);
      }
    }
    return b.toString(StandardCharsets.ISO_8859_1);
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (done) {
      return -1;
    }
    if (left == 0) {
      left = Integer.parseInt(chunkLine().split(";")[0].trim(), 16);
      if (left == 0) {
        while (!line(in).isEmpty()) {
          // trailers: none expected
        }
        done = true;
        return -1;
      }
    }
    int n = in.read(b, off, Math.min(len, left));
    if (n < 0) {
      // Not an EOFException: ZipInputStream takes that, between entries, for a normal end.
      throw new IOException("the connection closed inside a chunk");
    }
    left -= n;
    if (left == 0) {
      chunkLine(); // the CRLF after the chunk's data
    }
    return n;
  }

  private String chunkLine() throws IOException {
    try {
      return line(in);
    } catch (EOFException e) {
      throw new IOException("the connection closed before the last chunk", e);
    }
  }
}
