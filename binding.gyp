{
  "targets": [
    {
      "target_name": "holdfast",
      "sources": [
        "src/shared/native/binding.c",
        "src/shared/native/epoll.c",
        "src/shared/native/fd.c",
        "src/shared/native/fdpass.c",
        "src/shared/native/ofd.c",
        "src/shared/native/poll.c",
        "src/shared/native/proc.c",
        "src/shared/native/relay.c",
        "src/shared/native/rlimit.c",
        "src/shared/native/sock.c",
        "src/shared/native/stop_latch.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
