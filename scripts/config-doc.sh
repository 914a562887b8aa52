#!/usr/bin/env bash
# Regenerates the key table of docs/configuration.md from ConfigKeys and conf/osprey.json (after `mvn compile`).
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
table=$(java -cp "target/classes:$(cat target/classpath.txt)" io.osprey.config.ConfigDoc 2>/dev/null)
python3 - "$table" <<'PY'
import re, sys
path = "docs/configuration.md"
doc = open(path).read()
start = doc.index("| Key | Environment variable |")
end = doc.index("\n\n", start)
open(path, "w").write(doc[:start] + sys.argv[1].rstrip("\n") + doc[end:])
PY
echo "docs/configuration.md: table regenerated"
