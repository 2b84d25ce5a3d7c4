{
  "targets": [
    {
      "target_name": "holdfast",
      "sources": [
        "src/shared/native/binding.c",
        "src/shared/native/dirfd.c",
        "src/shared/native/epoll.c",
        "src/shared/native/exec_latch.c",
        "src/shared/native/fd.c",
        "src/shared/native/fdpass.c",
        "src/shared/native/ofd.c",
        "src/shared/native/poll.c",
        "src/shared/native/proc.c",
        "src/shared/native/relay.c",
        "src/shared/native/rlimit.c",
        "src/shared/native/signals.c",
        "src/shared/native/sock.c"
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
      "sources": ["src/shared/native/signal_guard.c"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
