#!/usr/bin/env bash
# Prepares this machine for the test suite: installs the Debian packages the tests use (when run
# as root and something is missing) and starts the services they need. Safe to run repeatedly.
#   openssl                       TLS tests (self-signed certificates)
#   pulseaudio, pulseaudio-utils  a sound server with null sinks: real-time virtual devices
#   libasound2-plugins            routes ALSA's "default"/"pulse" devices (what PortAudio sees) to it
#   chromium                      browser tests of the web client (driven by playwright-core)
#   janus                         the SFU for SFU rooms (tests start their own, VideoRoom plugin)
#   espeak-ng, ffmpeg             bots that speak (--input speak:) and play MP3/Ogg/FLAC files
#   redis-server, nginx           cluster tests (each starts its own on free loopback ports)
#   tmux                          the live mixer test: a real terminal, keys typed, screen read
set -euo pipefail

packages=(openssl iproute2 coturn pulseaudio pulseaudio-utils libasound2-plugins chromium janus espeak-ng ffmpeg sox redis-server nginx tmux)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "test-env: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test-env: the tests need these Debian packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and run again" >&2
    exit 1
  fi
fi

# A PulseAudio daemon with a default null sink. Tests add and remove their own sinks.
if ! pactl info >/dev/null 2>&1; then
  echo "test-env: starting PulseAudio" >&2
  pulseaudio --daemonize=yes --exit-idle-time=-1 --disallow-exit=yes --log-target=stderr --log-level=error \
    -n --load=module-native-protocol-unix --load="module-null-sink sink_name=voxroom_default rate=48000" \
    --load=module-always-sink 2>/dev/null || true
  for _ in $(seq 1 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
  pactl info >/dev/null 2>&1 || { echo "test-env: PulseAudio did not start" >&2; exit 1; }
fi
