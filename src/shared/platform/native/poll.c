/* A readiness watcher on a libuv loop (uv_poll_t). It neither owns nor closes the fd, and knows nothing
 * about JavaScript: js_poller.c keeps the JS side alive and decides what a callback means. */
#define _GNU_SOURCE /* uv.h needs POSIX types that strict C11 hides */
#include <stdlib.h>

#include <uv.h>

#include "holdfast.h"

struct hf_poll {
  uv_poll_t handle; /* first: the handle pointer is the struct pointer */
  hf_poll_cb cb;
  hf_poll_closed_cb closed;
  void *data;
};

static void on_poll(uv_poll_t *handle, int status, int events) {
  hf_poll *p = (hf_poll *)handle;
  p->cb(p, status, events, p->data);
}

static void on_close(uv_handle_t *handle) {
  hf_poll *p = (hf_poll *)handle;
  hf_poll_closed_cb closed = p->closed;
  void *data = p->data;
  free(p);
  if (closed) closed(data);
}

/* uv_poll_init sets O_NONBLOCK on the fd (a flag of the open file description, seen by every holder) and
 * refuses an fd the loop already watches (UV_EEXIST) or one epoll cannot watch, such as a regular file. */
int hf_poll_new(void *loop, int fd, hf_poll_cb cb, void *data, hf_poll **out) {
  hf_poll *p = calloc(1, sizeof(*p));
  if (p == NULL) return UV_ENOMEM;
  int r = uv_poll_init((uv_loop_t *)loop, &p->handle, fd);
  if (r < 0) {
    free(p); /* a failed init leaves nothing registered with the loop */
    return r;
  }
  p->cb = cb;
  p->data = data;
  *out = p;
  return 0;
}

int hf_poll_start(hf_poll *p, int events) {
  int uv_events = ((events & HF_POLL_READABLE) ? UV_READABLE : 0) | ((events & HF_POLL_WRITABLE) ? UV_WRITABLE : 0) |
                  ((events & HF_POLL_DISCONNECT) ? UV_DISCONNECT : 0);
  return uv_poll_start(&p->handle, uv_events, on_poll);
}

int hf_poll_stop(hf_poll *p) {
  return uv_poll_stop(&p->handle);
}

void hf_poll_ref(hf_poll *p, int on) {
  if (on) uv_ref((uv_handle_t *)&p->handle);
  else uv_unref((uv_handle_t *)&p->handle);
}

int hf_poll_has_ref(const hf_poll *p) {
  return uv_has_ref((const uv_handle_t *)&p->handle);
}

void hf_poll_close(hf_poll *p, hf_poll_closed_cb closed) {
  p->closed = closed;
  uv_close((uv_handle_t *)&p->handle, on_close);
}
