# tunnel-dispatcher bootstrap: run on the target as
#   sh -c "$(this file)" tunnel-bootstrap SUDO X86_64_SHA256 X86_64_SIZE AARCH64_SHA256 AARCH64_SIZE
# (a hash of "-": tunnel has no agent for that machine). It speaks to the client in lines on
# stdout, then becomes the agent, so that the protocol starts on the same pipe:
#   tunnel-bootstrap send ARCH SIZE    the client sends exactly SIZE bytes: the agent
#   tunnel-bootstrap start ARCH PATH   the agent starts now
#   tunnel-bootstrap error MESSAGE     nothing started, nothing was left behind
# POSIX sh with busybox-level tools (uname, head or dd, mkdir, chmod, mv; rm, id, sha256sum
# or wc when there). The client passes this text inside single quotes through the login
# shell, so it holds no single quote or backslash; comment lines are removed.
newline="
"
say() { printf "tunnel-bootstrap %s$newline" "$*"; }
fail() {
  [ -z "$temporary" ] || rm -f "$temporary" 2>/dev/null
  # the folders this run made, newest first (rmdir leaves one that holds anything)
  IFS=$newline
  for made in $made; do rmdir "$made" 2>/dev/null; done
  unset IFS
  say "error $*"
  exit 1
}
sudo=$1
made=
machine=$(uname -m 2>/dev/null)
case $machine in
  x86_64|amd64) arch=x86_64 hash=$2 size=$3 ;;
  aarch64|arm64|armv8*) arch=aarch64 hash=$4 size=$5 ;;
  *) arch=$machine hash=- ;;
esac
[ "$hash" = - ] && fail "no agent for this machine (uname -m: ${machine:-unknown}); tunnel has agents for x86_64 and aarch64"
if [ "$sudo" = 1 ]; then
  command -v sudo >/dev/null 2>&1 || fail "--sudo: there is no sudo on the target"
  sudo -n true </dev/null >/dev/null 2>&1 || fail "--sudo: sudo -n asks $(id -un 2>/dev/null || echo this account) for a password; allow it without one (NOPASSWD) or leave out --sudo"
fi
account=$(id -u 2>/dev/null || echo "${USER:-${LOGNAME:-user}}")

# Is $1 the agent tunnel means, whole? By its hash, else its size, with the tools there are.
intact() {
  [ -f "$1" ] || return 1
  if command -v sha256sum >/dev/null 2>&1; then
    set -- "$(sha256sum < "$1")"
    [ "${1%% *}" = "$hash" ]
  elif command -v wc >/dev/null 2>&1; then
    [ $(wc -c < "$1") -eq "$size" ]
  fi
}
# Does it run here (no noexec mount, the right machine)?
runs() { "$1" --version </dev/null >/dev/null 2>&1; }
start() {
  say "start $arch $1"
  if [ "$sudo" = 1 ]; then exec sudo -n -- "$1"; else exec "$1"; fi
}
# A folder of this account only: made when missing, refused when someone else owns it (a
# shared /tmp) or it is a symlink.
private() {
  if [ ! -d "$1" ]; then
    parent=${1%/*}
    if [ -n "$parent" ] && [ ! -d "$parent" ]; then
      mkdir -p "$parent" 2>/dev/null || return 1
      made="$parent$newline$made"
    fi
    mkdir -m 700 "$1" 2>/dev/null || return 1
    made="$1$newline$made"
  fi
  [ ! -L "$1" ] && [ -O "$1" ] && [ -w "$1" ]
}

shared=tunnel-dispatcher-$account
set -- "${TMPDIR:-/tmp}/$shared" "/tmp/$shared" "/dev/shm/$shared"
if [ -n "${XDG_CACHE_HOME:-}" ]; then
  set -- "$XDG_CACHE_HOME/tunnel-dispatcher" "$@"
elif [ -n "${HOME:-}" ]; then
  set -- "${HOME%/}/.cache/tunnel-dispatcher" "$@"
fi
for folder do
  if intact "$folder/$hash" && runs "$folder/$hash"; then start "$folder/$hash"; fi
done
# Not cached (or damaged): received once into the first private folder, then moved on to the
# next one as long as it cannot run where it is. Under a temporary name: a bootstrap running
# at the same time never sees a half-written file.
temporary=
for folder do
  private "$folder" || continue
  if [ -z "$temporary" ]; then
    temporary=$folder/.$hash.$$
    say "send $arch $size"
    if command -v head >/dev/null 2>&1; then
      head -c "$size" > "$temporary" 2>/dev/null
    else
      dd bs=1 count="$size" of="$temporary" 2>/dev/null
    fi
    intact "$temporary" || fail "the $arch agent arrived damaged in $folder (a full disk?)"
  else
    mv -f "$temporary" "$folder/.$hash.$$" 2>/dev/null || continue
    temporary=$folder/.$hash.$$
  fi
  chmod 700 "$temporary" 2>/dev/null
  if runs "$temporary" && mv -f "$temporary" "$folder/$hash"; then
    temporary=
    start "$folder/$hash"
  fi
done
fail "no folder where the agent can be stored and run (tried: $*; noexec mounts are skipped)"
