#!/bin/sh
# Install the macOS command simulator into the Debian container this runs in.
# Idempotent: a second run changes nothing. `install.sh --reset` also deletes
# the simulator state, so the next command starts from a fresh Mac Studio.
# MACSIM_ROOT (default empty) prefixes every path written, for tests of this
# script; the links always point at the in-container simulator path.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
LIB_DIR=/usr/local/lib/macsim
SIMULATOR=$LIB_DIR/macsim.py
STATE_DIR=/var/lib/macsim

# Commands that live in /usr/local/bin, ahead of the Linux tools in PATH.
PATH_COMMANDS="networksetup ifconfig sw_vers xcode-select launchctl dscl dseditgroup defaults"
# Homebrew's own bin directory on Apple silicon; community.general.homebrew
# searches /usr/local/bin:/opt/homebrew/bin, and cmake only exists after
# `brew install cmake`, as on the Mac (the simulator enforces that).
BREW_COMMANDS="brew cmake"
# Absolute paths the tools have on macOS. Linked only where Debian has nothing,
# so tasks that call e.g. /usr/sbin/networksetup work too.
MAC_PATHS="/usr/sbin/networksetup /sbin/ifconfig /bin/launchctl /usr/bin/xcode-select /usr/bin/sw_vers
/usr/bin/dscl /usr/sbin/dseditgroup /usr/bin/defaults"
# The PATH a non-login SSH session gets on macOS (the one in /etc/paths, without
# /usr/local/bin), and the one sudo keeps there: macOS's sudoers sets no
# secure_path, so a command run with sudo searches the session's PATH.
MAC_SESSION_PATH=/usr/bin:/bin:/usr/sbin:/sbin

ROOT=${MACSIM_ROOT:-}

link() {
    # Create or keep our own link; never replace a real tool.
    target=$ROOT$1
    current=$(readlink "$target" || true)
    [ "$current" = "$SIMULATOR" ] && return 0
    if [ -e "$target" ] || [ -L "$target" ]; then
        echo "install.sh: leaving existing $1 alone" >&2
        return 0
    fi
    install -d -m 0755 "$(dirname "$target")"
    ln -s "$SIMULATOR" "$target"
}

for directory in "$LIB_DIR" /usr/local/bin /opt/homebrew/bin \
    /Library/LaunchDaemons /Library/LaunchAgents /Library/Preferences; do
    install -d -m 0755 "$ROOT$directory"
done
# The state is written by root and by the admin user (see _locked in macsim.py).
install -d -m 0777 "$ROOT$STATE_DIR"
[ "$(stat -c %a "$ROOT$STATE_DIR")" = 777 ] || chmod 0777 "$ROOT$STATE_DIR"
cmp -s "$HERE/macsim.py" "$ROOT$SIMULATOR" || install -m 0755 "$HERE/macsim.py" "$ROOT$SIMULATOR"

for command in $PATH_COMMANDS; do
    link "/usr/local/bin/$command"
done
for command in $BREW_COMMANDS; do
    link "/opt/homebrew/bin/$command"
done
for path in $MAC_PATHS; do
    link "$path"
done

# What an SSH session looks like on the Mac (only where sshd and sudo exist,
# i.e. in the lab container, not in the unit tests' scratch root).
if [ -d "$ROOT/etc/ssh/sshd_config.d" ]; then
    conf="$ROOT/etc/ssh/sshd_config.d/macsim.conf"
    want="SetEnv PATH=$MAC_SESSION_PATH"
    if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
        echo "$want" > "$conf"
        [ -z "$ROOT" ] && systemctl reload-or-restart ssh.service
        echo "install.sh: SSH sessions get PATH=$MAC_SESSION_PATH"
    fi
fi
if [ -d "$ROOT/etc/sudoers.d" ]; then
    rule="$ROOT/etc/sudoers.d/macsim"
    want="Defaults secure_path=\"$MAC_SESSION_PATH\""
    if [ "$(cat "$rule" 2>/dev/null)" != "$want" ]; then
        echo "$want" > "$rule.new"
        chmod 0440 "$rule.new"
        if [ -z "$ROOT" ]; then visudo -cf "$rule.new" >/dev/null; fi
        mv "$rule.new" "$rule"
        echo "install.sh: sudo keeps PATH=$MAC_SESSION_PATH"
    fi
fi

if [ "${1:-}" = "--reset" ]; then
    rm -f "$ROOT$STATE_DIR/state.json" "$ROOT$STATE_DIR/state.json.lock"
fi
