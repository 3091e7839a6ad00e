# tunnel-dispatcher bootstrap: run on the target as
#   sh -c "$(this file)" tunnel-bootstrap SUDO HASH SIZE HASH SIZE ...
# with one HASH SIZE pair per machine, in this order: x86_64 aarch64 armv7 i686 riscv64 (a
# hash of "-", or pairs left out at the end: tunnel has no agent for that machine), and after
# the five pairs, optionally, the word `ahead`: then the client does not wait for `start`
# before it speaks the protocol. Right behind this command it writes a line with a byte
# count N, then N bytes of protocol (its first packets: CheckAlive, Hello, its first
# request), which wait in the pipe for the agent: a start costs no round trip for the
# `start` line. Where the agent must be received first, those N bytes are read and dropped
# before `send` (nothing follows them until the client reads a line), and the client sends
# them again after `start`. The snippet speaks to the client in lines on stdout, then becomes
# the agent, so that the protocol starts on the same pipe:
#   tunnel-bootstrap send ARCH SIZE    the client sends exactly SIZE bytes: the agent
#   tunnel-bootstrap note TEXT         for the client to show with -v
#   tunnel-bootstrap start ARCH PATH   the agent starts now
#   tunnel-bootstrap error MESSAGE     nothing started, nothing was left behind
# POSIX sh with busybox-level tools: uname, ls, mkdir, chmod, mv, head or dd; id, rm, rmdir,
# mktemp and sha256sum when there. The client passes this text inside single quotes through
# the login shell, so it holds no single quote or backslash; comment lines are removed.
#
# Other users on the target (docs/security.md): an agent is run, or given to sudo -n, only
# from a folder this account can show is private: not a symlink, owned by the account, mode
# 700, and every folder above it, symlinks resolved, owned by root or the account and
# writable by no one else unless sticky (/tmp). Then no one but the account and root can
# put a file there, swap one, or swap the folder: the name is trusted from then on. A copy
# is checked once (its SHA-256, and that it runs) under a temporary name in that folder, and
# renamed into place; a cached copy is only checked for its size. The fast path, a cached
# agent in the account's cache, costs one ls (and uname where there is no
# /proc/sys/kernel/arch).
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
ahead=${12:-}
length=0
made=
temporary=
here=$PWD
# The account (the effective uid), without a process where /proc is there: the owner the
# folders must have.
me=
if [ -r /proc/self/status ]; then
  while read -r key real effective rest; do
    case $key in Uid:) me=$effective; break ;; esac
  done < /proc/self/status
fi
[ -n "$me" ] || me=$(id -u 2>/dev/null) || fail "cannot tell which account this is (no /proc, no id)"
# The machine, as `uname -m` names it: read without a process from /proc/sys/kernel/arch
# (Linux 6.1 and later; the same field of the kernel's), from uname where it is missing.
# The one difference: under a 32-bit personality (linux32) uname names the 32-bit machine
# (i686, armv8l) where the file names the kernel's (x86_64, aarch64), whose agent runs there
# too.
machine=
[ -r /proc/sys/kernel/arch ] && read -r machine < /proc/sys/kernel/arch
[ -n "$machine" ] || machine=$(LC_ALL=C uname -m 2>/dev/null)
case $machine in
  x86_64|amd64) arch=x86_64 hash=$2 size=$3 ;;
  aarch64|arm64) arch=aarch64 hash=$4 size=$5 ;;
  armv7*|armv8l) arch=armv7 hash=$6 size=$7 ;;
  i386|i486|i586|i686) arch=i686 hash=$8 size=$9 ;;
  riscv64) arch=riscv64 hash=${10} size=${11} ;;
  armv6*|armv5*|armv4*)
    fail "no agent for this machine (uname -m: $machine): 32-bit ARM older than ARMv7 (the first Raspberry Pis, the Pi Zero) is not served" ;;
  *) fail "no agent for this machine (uname -m: ${machine:-unknown}); tunnel has agents for x86_64, aarch64, armv7 (armv7l, armv8l), i686 (i386 to i686) and riscv64" ;;
esac
if [ "${hash:--}" = - ]; then
  have=
  [ "${2:--}" = - ] || have="$have x86_64"
  [ "${4:--}" = - ] || have="$have aarch64"
  [ "${6:--}" = - ] || have="$have armv7"
  [ "${8:--}" = - ] || have="$have i686"
  [ "${10:--}" = - ] || have="$have riscv64"
  fail "no agent for this machine (uname -m: $machine): this tunnel has no $arch agent (it has:${have:- none})"
fi
command -v ls >/dev/null 2>&1 || fail "there is no ls on the target: the bootstrap needs it to check that a folder is private"
if [ "$sudo" = 1 ]; then
  command -v sudo >/dev/null 2>&1 || fail "--sudo: there is no sudo on the target"
  sudo -n true </dev/null >/dev/null 2>&1 || fail "--sudo: sudo -n asks $(id -un 2>/dev/null || echo this account) for a password; allow it without one (NOPASSWD) or leave out --sudo"
fi

# Is $1 a folder that no one but this account (and root) can change, from / down? Sets
# physical, its path without symlinks (the one used from then on), and copy, the listing of
# the agent in it ("MODE OWNER SIZE", empty when there is none). One ls lists the folder,
# every folder above it and the copy, in this order (each name is a prefix of the next, so
# sorted or not); each must be owned by root or by me, the account.
private() {
  [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ] || return 1
  cd -P -- "$1" 2>/dev/null || return 1
  physical=$PWD
  cd -- "$here" 2>/dev/null || cd /
  case $physical in /?*) ;; *) return 1 ;; esac
  case $physical in *"$newline"*) return 1 ;; esac
  set -- "$physical" "$physical/$hash"
  above=$physical
  while [ -n "$above" ]; do
    above=${above%/*}
    set -- "${above:-/}" "$@"
  done
  folders=$(($# - 1))
  listing=$(LC_ALL=C ls -ldn -- "$@" 2>/dev/null)
  copy= last=
  listed || return 1
  # the last folder listed is the folder itself: this account's, and its only
  case $last in "drwx------"*" $me") ;; *) return 1 ;; esac
  [ "$folders" = 0 ]
}
# Checks each line of $listing, "MODE LINKS UID GID SIZE ... NAME", split by the shell in
# memory (a while-read loop costs a system call per byte: dash, ash and bash read a pipe
# or a here-document byte by byte); counts the folders, notes the last one and the copy.
# Only the fields after SIZE can hold a pattern character (the name), so pathname expansion
# can change none of the fields used. (No set -f: csh, where this snippet fails as it
# should, would list its variables on stdout for it.)
listed() {
  rest=$listing
  while [ -n "$rest" ]; do
    line=${rest%%"$newline"*}
    case $rest in *"$newline"*) rest=${rest#*"$newline"} ;; *) rest= ;; esac
    set -- $line
    case $1 in
      d*)
        [ "$3" = 0 ] || [ "$3" = "$me" ] || return 1
        # sticky: no one else may rename what root or this account owns there
        case $1 in d????????[tT]*) ;; d????w*|d???????w*) return 1 ;; esac
        folders=$((folders - 1)) last="$1 $3" ;;
      -*) copy="$1 $3 $5" ;;
      *) return 1 ;;
    esac
  done
}
# The copy in a private folder is the one this account renamed there after checking it:
# only its size (a damaged disk) and that it is a program of the account's are checked, and
# that it can run there ([ -x ] is false on a noexec mount: access(2) says so).
usable() {
  set -- $copy
  case ${1:-} in -rwx*) ;; *) return 1 ;; esac
  [ "$2" = "$me" ] && [ "$3" = "$size" ] && [ -x "$physical/$hash" ]
}
# Is the received copy $1 whole? By its hash, else by its size (the folder is private: only
# a short write, a full disk, is to be caught).
intact() {
  if command -v sha256sum >/dev/null 2>&1; then
    set -- "$(sha256sum < "$1")"
    [ "${1%% *}" = "$hash" ]
  else
    LC_ALL=C ls -ln -- "$1" 2>/dev/null | { read -r mode links uid group bytes rest; [ "$bytes" = "$size" ]; }
  fi
}
# Does it run here (no noexec mount, the right machine)?
runs() { "$1" --version </dev/null >/dev/null 2>&1; }
# The count of the bytes the client wrote ahead (`ahead`, at the top), into length: read by
# the shell, which reads a pipe byte by byte, so nothing after the line is taken from the
# agent.
waiting() {
  [ "$ahead" = ahead ] || return 0
  ahead=
  read -r length || length=
  case $length in ""|*[!0-9]*) fail "the client sent no byte count before its first packets" ;; esac
}
# Reads $1 bytes of stdin into the file $2.
receive() {
  if command -v head >/dev/null 2>&1; then
    head -c "$1" > "$2" 2>/dev/null
  else
    dd bs=1 count="$1" of="$2" 2>/dev/null
  fi
}
start() {
  waiting
  say "start $arch $1"
  if [ "$sudo" = 1 ]; then exec sudo -n -- "$1"; else exec "$1"; fi
}
cached() { private "$1" && usable && start "$physical/$hash"; }
# Makes the folder $1 (mode 700; its missing parents 700 too) and notes it for fail.
make() {
  parent=${1%/*}
  if [ -n "$parent" ] && [ ! -d "$parent" ]; then
    mask=$(umask)
    umask 077
    mkdir -p "$parent" 2>/dev/null
    status=$?
    umask "$mask"
    [ "$status" = 0 ] || return 1
    made="$parent$newline$made"
  fi
  mkdir -m 700 "$1" 2>/dev/null || return 1
  made="$1$newline$made"
}
# A new folder of this account's in $1 that no one can have made ready for it: mktemp -d,
# else an exclusive mkdir (it fails on anything already there) of the next free name.
fresh() {
  new=
  [ -d "$1" ] || return 1
  if command -v mktemp >/dev/null 2>&1; then
    new=$(mktemp -d "$1/$shared.XXXXXXXXXX" 2>/dev/null) || new=
  else
    tries=0
    while [ -z "$new" ] && [ "$tries" -lt 32 ]; do
      tries=$((tries + 1))
      mkdir -m 700 "$1/$shared.$$.$tries" 2>/dev/null && new=$1/$shared.$$.$tries
    done
  fi
  [ -n "$new" ] || return 1
  made="$new$newline$made"
}
fallback() {
  fresh_one=$1
  shift
  say "note no predictable folder can be used ($*: another user holds it, others may write or rename it, or it is mounted noexec); using a fresh private folder, $fresh_one"
}
# Receives the agent into the folder $1 (made when missing), or moves the copy received
# earlier there, and starts it when it runs there. Under a temporary name: a bootstrap
# running at the same time never sees a half-written file.
place() {
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then make "$1" || return 1; fi
  private "$1" || return 1
  if [ -z "$temporary" ]; then
    temporary=$physical/.$hash.$$
    waiting
    [ "$length" = 0 ] || receive "$length" /dev/null
    length=0
    say "send $arch $size"
    receive "$size" "$temporary"
    intact "$temporary" || fail "the $arch agent arrived damaged in $physical (a full disk?)"
  else
    mv -f "$temporary" "$physical/.$hash.$$" 2>/dev/null || return 1
    temporary=$physical/.$hash.$$
  fi
  chmod 700 "$temporary" 2>/dev/null
  runs "$temporary" && mv -f "$temporary" "$physical/$hash" || return 1
  temporary=
  start "$physical/$hash"
}

# The account's cache first: the common case.
cache=
case ${XDG_CACHE_HOME:-} in
  /*) cache=$XDG_CACHE_HOME/tunnel-dispatcher ;;
  *) case ${HOME:-} in /*) cache=${HOME%/}/.cache/tunnel-dispatcher ;; esac ;;
esac
[ -z "$cache" ] || cached "$cache"
shared=tunnel-dispatcher-$me
set --
case ${TMPDIR:-} in /?*) set -- "${TMPDIR%/}/$shared" ;; esac
set -- "$@" "/tmp/$shared" "/dev/shm/$shared"
for folder do cached "$folder"; done
# Fresh folders of earlier starts (a few: anyone may make names that match).
for folder do
  tries=0
  for earlier in "${folder%/*}/$shared".*; do
    [ "$tries" -lt 4 ] || break
    tries=$((tries + 1))
    if private "$earlier" && usable; then
      fallback "$physical" "$@"
      start "$physical/$hash"
    fi
  done
done
# Not cached (or damaged): received once into the first private folder, then moved on to the
# next one as long as it cannot run where it is; a fresh folder when no predictable one is.
[ -z "$cache" ] || place "$cache"
for folder do place "$folder"; done
for folder do
  if fresh "${folder%/*}"; then
    fallback "$new" "$@"
    place "$new"
  fi
done
fail "no folder where the agent can be stored and run (tried: ${cache:+$cache }$*; noexec mounts are skipped)"
