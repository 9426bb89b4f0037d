#!/usr/bin/env bash
# Checks that every tracked C++ source (.h, .cc, and the .cc.in templates) is formatted as .clang-format says,
# with clang-format 14 (what CI has; other versions format some constructs differently). Lists the files that
# are not and exits non-zero; fix them with `clang-format-14 -i FILE...`.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$CLANG_FORMAT" >/dev/null; then
  echo "check-format: $CLANG_FORMAT not found (scripts/setup.sh installs it)" >&2
  exit 1
fi

# One clang-format process for the .h/.cc files (it names each offending file in its errors), one per template.
rc=0
out=$(git ls-files -z -- '*.h' '*.cc' | xargs -0 "$CLANG_FORMAT" --dry-run -Werror 2>&1) || rc=$?
mapfile -t bad < <(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: .*/\1/p' <<<"$out" | sort -u)
if ((rc != 0 && ${#bad[@]} == 0)); then  # failed without naming a file: show why
  printf '%s\n' "$out" >&2
  echo "check-format: $CLANG_FORMAT failed (exit $rc)" >&2
  exit 1
fi
while IFS= read -r -d '' f; do
  # A .cc.in template: name the language, which clang-format guesses from the extension.
  "$CLANG_FORMAT" --dry-run -Werror --assume-filename="${f%.in}" <"$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files -z -- '*.cc.in')

if ((${#bad[@]})); then
  echo "check-format: ${#bad[@]} file(s) not formatted (run: $CLANG_FORMAT -i FILE...):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: $(git ls-files -- '*.h' '*.cc' '*.cc.in' | wc -l) files formatted"
