#!/usr/bin/env bash
# The .deb, as an operator meets it: built with CPack from build/ (scripts/setup.sh built the binary), its
# contents and control files checked, then installed on this machine with apt (as root; otherwise only
# unpacked), where `hookwire --version` and `hookwire serve --check-config` run from it as the hookwire user
# and the data directory is private; then purged. Usage: tests/packaging/deb.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
fail() { echo "deb: FAILED: $*" >&2; exit 1; }

cmake -S . -B "$BUILD_DIR" >/dev/null
cmake --build "$BUILD_DIR" --target hookwire >/dev/null
rm -f "$BUILD_DIR"/hookwire_*.deb
(cd "$BUILD_DIR" && cpack -G DEB >/dev/null 2>&1) || fail "cpack -G DEB in $BUILD_DIR"
deb=$(ls "$BUILD_DIR"/hookwire_*_*.deb)
echo "deb: built $deb ($(du -h "$deb" | cut -f1))"

contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for f in ./usr/bin/hookwire ./etc/hookwire/hookwire.toml ./usr/lib/systemd/system/hookwire.service; do
  grep -qx "$f" <<<"$contents" || fail "$f is not in the package"
done
grep -q '^/usr/\(local\|include\)\|\.a$' <<<"$contents" && fail "the package holds files it should not: $contents"
ctl=$(mktemp -d)
trap 'rm -rf "$ctl"' EXIT
dpkg-deb -e "$deb" "$ctl"
[ "$(cat "$ctl/conffiles")" = /etc/hookwire/hookwire.toml ] || fail "conffiles: $(cat "$ctl/conffiles")"
grep -q '^Depends: adduser, .*libsqlite3' "$ctl/control" || fail "Depends: $(grep Depends "$ctl/control")"
# Read once into a file: `grep -q` in a pipeline would exit at its match and, with pipefail, fail on SIGPIPE.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/hookwire.service >"$ctl/unit"
for key in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes ReadWritePaths=/var/lib/hookwire User=hookwire \
           "ExecStartPre=/usr/bin/hookwire serve --config /etc/hookwire/hookwire.toml --check-config" \
           'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qxF "$key" "$ctl/unit" || fail "the unit lacks $key"
done

if [ "$(id -u)" != 0 ]; then
  # Not root: the unpacked binary and default configuration must still work.
  dpkg-deb -x "$deb" "$ctl/root"
  "$ctl/root/usr/bin/hookwire" --version | grep -qx "hookwire [0-9.]*" || fail "--version"
  sed "s|/var/lib/hookwire|$ctl/data|" "$ctl/root/etc/hookwire/hookwire.toml" >"$ctl/hookwire.toml"
  "$ctl/root/usr/bin/hookwire" serve --config "$ctl/hookwire.toml" --check-config
  echo "deb: ok (unpacked only: not root, so not installed)"
  exit 0
fi

fresh_data=0
[ -e /var/lib/hookwire ] || fresh_data=1
cleanup() {
  dpkg --purge hookwire >/dev/null 2>&1 || true
  ((fresh_data)) && rm -rf /var/lib/hookwire
  rm -rf "$ctl"
}
trap cleanup EXIT
dpkg --purge hookwire >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$PWD/$deb" >/dev/null ||
  fail "apt-get install $deb"
[ "$(command -v hookwire)" = /usr/bin/hookwire ] || fail "hookwire is not /usr/bin/hookwire"
hookwire --version | grep -qx "hookwire [0-9.]*" || fail "--version: $(hookwire --version)"
getent passwd hookwire >/dev/null || fail "no hookwire user"
[ "$(stat -c '%U %a' /var/lib/hookwire)" = "hookwire 700" ] || fail "/var/lib/hookwire: $(stat -c '%U %a' /var/lib/hookwire)"
[ "$(stat -c '%U:%G %a' /etc/hookwire/hookwire.toml)" = "root:hookwire 640" ] ||
  fail "/etc/hookwire/hookwire.toml: $(stat -c '%U:%G %a' /etc/hookwire/hookwire.toml)"
runuser -u hookwire -- hookwire serve --config /etc/hookwire/hookwire.toml --check-config ||
  fail "--check-config of the installed configuration"
# A broken configuration is refused (exit 1), naming the file and line.
install -m 0644 /etc/hookwire/hookwire.toml /tmp/hookwire-deb-test.toml
echo 'listne = "x"' >>/tmp/hookwire-deb-test.toml
out=$(runuser -u hookwire -- hookwire serve --config /tmp/hookwire-deb-test.toml --check-config 2>&1) && fail "a bad file passed"
rm -f /tmp/hookwire-deb-test.toml
grep -q 'hookwire-deb-test.toml:[0-9]*:[0-9]*: listne: unknown setting' <<<"$out" || fail "the refusal: $out"
dpkg --purge hookwire >/dev/null
getent passwd hookwire >/dev/null && fail "the user outlived the purge"
[ ! -e /usr/bin/hookwire ] || fail "/usr/bin/hookwire outlived the purge"
echo "deb: ok (installed, checked, purged)"
