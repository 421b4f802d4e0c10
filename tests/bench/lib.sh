# shellcheck shell=bash
# Shared by the benchmark scripts of tests/bench (sourced, not run).

USER_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/labkit-ebpf_rdma

keep_cold_cache() {  # keep_cold_cache DIR: move what a cold series built into the user's cache
  # where that has no such entry (so the warm series that follows is warm on a
  # new machine too, and later runs reuse it), then drop the rest.
  local sub entry
  for sub in images go; do
    [ -d "$1/labkit-ebpf_rdma/$sub" ] || continue
    mkdir -p "$USER_CACHE/$sub"
    for entry in "$1/labkit-ebpf_rdma/$sub"/*; do
      [ -e "$entry" ] || continue
      case "$(basename "$entry")" in .*) continue ;; esac
      if [ ! -e "$USER_CACHE/$sub/$(basename "$entry")" ]; then
        mv "$entry" "$USER_CACHE/$sub/" && echo "  kept the cold build's $sub/$(basename "$entry") in $USER_CACHE"
      fi
    done
  done
  rm -rf "$1"
}

seconds_since() {  # seconds_since T0: whole seconds from T0 (date +%s.%N) to now
  awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }'
}

host_line() {  # host_line: what the figures were measured on
  echo "host: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
