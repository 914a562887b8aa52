package io.osprey.uploads;

/** Client file names are metadata only; this makes them safe to store and show. */
public final class FileNames {
  private static final int MAX_LENGTH = 255;
  /** Longer client file names are refused (400), not cut: nobody names a file like that but a hostile client. */
  public static final int MAX_CLIENT_LENGTH = 1024;

  private FileNames() {
  }

  /**
   * Keeps the last path segment (either separator, as browsers on Windows send {@code C:\dir\a.jpg}), drops control
   * characters and bounds the length. The result is never used to build a path: files are stored under ids.
   */
  public static String sanitize(String raw) {
    if (raw == null) {
      return "unnamed";
    }
    String name = raw;
    int cut = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
    if (cut >= 0) {
      name = name.substring(cut + 1);
    }
    StringBuilder clean = new StringBuilder(name.length());
    name.codePoints().filter(cp -> !Character.isISOControl(cp)).forEach(clean::appendCodePoint);
    name = clean.toString().strip();
    if (name.equals(".") || name.equals("..") || name.isEmpty()) {
      return "unnamed";
    }
    if (name.length() > MAX_LENGTH) {
      int dot = name.lastIndexOf('.');
      String ext = dot > 0 && name.length() - dot <= 10 ? name.substring(dot) : "";
      name = name.substring(0, MAX_LENGTH - ext.length()) + ext;
    }
    return name;
  }
}
