{
  "targets": [
    {
      "target_name": "holdfast",
      "sources": [
        "src/shared/platform/native/binding.c",
        "src/shared/platform/native/dirfd.c",
        "src/shared/platform/native/epoll.c",
        "src/shared/platform/native/exec_latch.c",
        "src/shared/platform/native/fd.c",
        "src/shared/platform/native/fdpass.c",
        "src/shared/platform/native/ofd.c",
        "src/shared/platform/native/poll.c",
        "src/shared/platform/native/proc.c",
        "src/shared/platform/native/relay.c",
        "src/shared/platform/native/rlimit.c",
        "src/shared/platform/native/signals.c",
        "src/shared/platform/native/sock.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "libraries": ["-ldl"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      # Preloaded into every daemon image (LD_PRELOAD): no N-API, no Node; see signal_guard.c.
      "target_name": "signal_guard",
      "type": "shared_library",
      "sources": ["src/shared/platform/native/signal_guard.c"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
