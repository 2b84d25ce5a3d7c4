{
  "targets": [
    {
      "target_name": "holdfast",
      "sources": [
        # The plain C syscall layer (holdfast.h): no N-API.
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
        "src/shared/platform/native/sock.c",
        "src/shared/platform/native/turn.c",
        # The N-API layer over it: argument checks, errors, one js_<topic>.c per topic, the Poller, registration.
        "src/shared/platform/native/module.c",
        "src/shared/platform/native/napi_args.c",
        "src/shared/platform/native/napi_errors.c",
        "src/shared/platform/native/napi_values.c",
        "src/shared/platform/native/js_dirfd.c",
        "src/shared/platform/native/js_epoll.c",
        "src/shared/platform/native/js_exec_latch.c",
        "src/shared/platform/native/js_fd.c",
        "src/shared/platform/native/js_fdpass.c",
        "src/shared/platform/native/js_ofd.c",
        "src/shared/platform/native/js_poller.c",
        "src/shared/platform/native/js_proc.c",
        "src/shared/platform/native/js_relay.c",
        "src/shared/platform/native/js_rlimit.c",
        "src/shared/platform/native/js_signals.c",
        "src/shared/platform/native/js_sock.c",
        "src/shared/platform/native/js_turn.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      # Hidden: the files share helpers by plain names (arg_fd, new_int, ...), which must never bind to a
      # symbol of the same name elsewhere in the process; only the module's entry points are exported.
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-fvisibility=hidden"],
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
