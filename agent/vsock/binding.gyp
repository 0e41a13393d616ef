{
  "targets": [
    {
      "target_name": "vsock",
      "sources": ["src/vsock.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
