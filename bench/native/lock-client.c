/*
 * A lock-protocol load client for the bench: K connections in one process, each registered as its own
 * owner and looping ACQUIRE_RESOURCE + RELEASE_RESOURCE on its own file, driven by poll(). No Node on
 * the client side, so the daemon's CPU per request is measured against a client that costs little.
 *
 * Usage: lock-client SOCKET FILE_PREFIX CONNECTIONS ID_BASE
 *   Connection k registers owner id ID_BASE+k (pid 0x7ffff000+ID_BASE+k, never a live process) and
 *   locks FILE_PREFIX<ID_BASE+k>.img in the default lockspace "" (the file is created here).
 * Control on stdin, one letter a line: 'g' starts the loops, 'm' starts counting, 's' stops counting,
 * prints one JSON line on stdout and exits. "ready" is printed once every connection is registered.
 * Wire format: src/shared/protocol/message.ts and lock-program.ts (libvirt's lock_protocol.x).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOCK_PROGRAM 0x0ea7beefu
#define LOCK_PROGRAM_VERSION 1u
#define PROC_REGISTER 1
#define PROC_ACQUIRE_RESOURCE 6
#define PROC_RELEASE_RESOURCE 7
#define TYPE_CALL 0
#define TYPE_REPLY 1
#define STATUS_OK 0
#define HEADER_END 28
#define REPLY_MAX 65536
/* Latency histogram: 1 us buckets below 10 ms, 1 ms buckets up to 1 s. */
#define FINE_US 10000
#define COARSE_MS 1000
#define BUCKETS (FINE_US + COARSE_MS)

struct buf {
  unsigned char data[1024];
  size_t len;
};

struct conn {
  int fd;
  uint32_t serial;
  int proc;             /* procedure of the request in flight */
  uint64_t sent_ns;
  unsigned char reply[REPLY_MAX];
  size_t have;
  struct buf acquire, release;
};

static uint64_t counts[BUCKETS];

static void die(const char *what) {
  fprintf(stderr, "lock-client: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_u32(struct buf *b, uint32_t v) {
  b->data[b->len++] = (unsigned char)(v >> 24);
  b->data[b->len++] = (unsigned char)(v >> 16);
  b->data[b->len++] = (unsigned char)(v >> 8);
  b->data[b->len++] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* XDR string: length word, bytes, zero padding to a multiple of 4. */
static void put_string(struct buf *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + 4 + n + 3 > sizeof b->data) { errno = ENAMETOOLONG; die("string"); }
  put_u32(b, (uint32_t)n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  while (b->len % 4) b->data[b->len++] = 0;
}

/* Length word (patched by finish) and the 24-byte header of a CALL. */
static void start_call(struct buf *b, int proc, uint32_t serial) {
  b->len = 0;
  put_u32(b, 0);
  put_u32(b, LOCK_PROGRAM);
  put_u32(b, LOCK_PROGRAM_VERSION);
  put_u32(b, (uint32_t)proc);
  put_u32(b, TYPE_CALL);
  put_u32(b, serial);
  put_u32(b, STATUS_OK);
}

static void finish(struct buf *b) {
  uint32_t n = (uint32_t)b->len;
  b->data[0] = (unsigned char)(n >> 24);
  b->data[1] = (unsigned char)(n >> 16);
  b->data[2] = (unsigned char)(n >> 8);
  b->data[3] = (unsigned char)n;
}

static void resource_call(struct buf *b, int proc, const char *file) {
  start_call(b, proc, 0);
  put_string(b, "");   /* default lockspace: the name is the file's path */
  put_string(b, file);
  put_u32(b, 0);       /* flags */
  finish(b);
}

static void set_serial(struct buf *b, uint32_t serial) {
  b->data[20] = (unsigned char)(serial >> 24);
  b->data[21] = (unsigned char)(serial >> 16);
  b->data[22] = (unsigned char)(serial >> 8);
  b->data[23] = (unsigned char)serial;
}

static void write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { struct pollfd pfd = { fd, POLLOUT, 0 }; poll(&pfd, 1, -1); continue; }
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

/* Reads what is there; returns 1 when a whole reply frame is buffered, -1 on hang-up. */
static int read_reply(struct conn *c) {
  for (;;) {
    size_t want = c->have < 4 ? 4 : get_u32(c->reply);
    if (c->have >= 4 && (want < HEADER_END || want > REPLY_MAX)) { errno = EPROTO; die("reply length"); }
    if (c->have == want) return 1;
    ssize_t r = read(c->fd, c->reply + c->have, want - c->have);
    if (r == 0) return -1;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      die("read");
    }
    c->have += (size_t)r;
  }
}

/* Checks the buffered reply against the request in flight; returns 1 for OK, 0 for an error reply. */
static int check_reply(struct conn *c) {
  const unsigned char *h = c->reply + 4;
  if (get_u32(h) != LOCK_PROGRAM || get_u32(h + 8) != (uint32_t)c->proc || get_u32(h + 12) != TYPE_REPLY ||
      get_u32(h + 16) != c->serial) {
    errno = EPROTO;
    die("reply header does not match the call");
  }
  c->have = 0;
  return get_u32(h + 20) == STATUS_OK;
}

static void send_request(struct conn *c, int proc) {
  struct buf *b = proc == PROC_ACQUIRE_RESOURCE ? &c->acquire : &c->release;
  c->proc = proc;
  set_serial(b, ++c->serial);
  c->sent_ns = now_ns();
  write_all(c->fd, b->data, b->len);
}

static void record(uint64_t ns) {
  uint64_t us = ns / 1000;
  size_t i = us < FINE_US ? (size_t)us : FINE_US + (size_t)(us / 1000 < COARSE_MS ? us / 1000 : COARSE_MS - 1);
  counts[i]++;
}

static int connect_to(const char *path) {
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof addr.sun_path) { errno = ENAMETOOLONG; die("socket path"); }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  return fd;
}

/* REGISTER, answered before the loop starts (blocking). */
static void register_owner(struct conn *c, uint32_t id) {
  struct buf b;
  char name[64];
  unsigned char uuid[16] = { 0 };
  start_call(&b, PROC_REGISTER, ++c->serial);
  uuid[6] = 0x40; uuid[8] = 0x80; uuid[12] = (unsigned char)(id >> 24); uuid[13] = (unsigned char)(id >> 16);
  uuid[14] = (unsigned char)(id >> 8); uuid[15] = (unsigned char)id;
  memcpy(b.data + b.len, uuid, 16);   /* fixed opaque: no length word */
  b.len += 16;
  snprintf(name, sizeof name, "bench-c-%u", id);
  put_string(&b, name);
  put_u32(&b, id);
  put_u32(&b, 0x7ffff000u + id);    /* a pid that is no process: the daemon never kills anything of ours */
  put_u32(&b, 0);                   /* flags */
  finish(&b);
  c->proc = PROC_REGISTER;
  write_all(c->fd, b.data, b.len);
  int r;
  while ((r = read_reply(c)) == 0) { struct pollfd pfd = { c->fd, POLLIN, 0 }; poll(&pfd, 1, -1); }
  if (r < 0) { errno = ECONNRESET; die("register"); }
  if (!check_reply(c)) { errno = EPROTO; die("register refused"); }
}

static char read_command(void) {
  char line[16];
  ssize_t r = read(0, line, sizeof line);
  if (r <= 0) return 's'; /* the bench went away: stop */
  return line[r - 1] == '\n' && r >= 2 ? line[r - 2] : line[0];
}

static double percentile_ms(uint64_t total, double q) {
  uint64_t rank = (uint64_t)(q * (double)total), seen = 0;
  for (size_t i = 0; i < BUCKETS; i++) {
    seen += counts[i];
    if (seen > rank) return i < FINE_US ? (double)i / 1000.0 : (double)(i - FINE_US);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: lock-client SOCKET FILE_PREFIX CONNECTIONS ID_BASE\n");
    return 2;
  }
  const char *socket_path = argv[1], *prefix = argv[2];
  int k = atoi(argv[3]);
  uint32_t id_base = (uint32_t)strtoul(argv[4], NULL, 10);
  if (k < 1) { fprintf(stderr, "lock-client: CONNECTIONS must be >= 1\n"); return 2; }
  struct conn *conns = calloc((size_t)k, sizeof *conns);
  struct pollfd *pfds = calloc((size_t)k + 1, sizeof *pfds);
  if (!conns || !pfds) die("calloc");

  for (int i = 0; i < k; i++) {
    struct conn *c = &conns[i];
    char file[4096];
    snprintf(file, sizeof file, "%s%u.img", prefix, id_base + (uint32_t)i);
    int f = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) die(file);
    close(f);
    c->fd = connect_to(socket_path);
    register_owner(c, id_base + (uint32_t)i);
    resource_call(&c->acquire, PROC_ACQUIRE_RESOURCE, file);
    resource_call(&c->release, PROC_RELEASE_RESOURCE, file);
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
  }
  printf("ready\n");
  fflush(stdout);
  while (read_command() != 'g') {}

  int counting = 0;
  uint64_t cycles = 0, errors = 0, requests = 0, started = 0, stopped = 0;
  for (int i = 0; i < k; i++) send_request(&conns[i], PROC_ACQUIRE_RESOURCE);
  pfds[k].fd = 0;
  pfds[k].events = POLLIN;
  for (int i = 0; i < k; i++) { pfds[i].fd = conns[i].fd; pfds[i].events = POLLIN; }
  while (!stopped) {
    if (poll(pfds, (nfds_t)k + 1, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int i = 0; i < k; i++) {
      if (!pfds[i].revents) continue;
      struct conn *c = &conns[i];
      int r = read_reply(c);
      if (r < 0) { errno = ECONNRESET; die("daemon hung up"); }
      if (r == 0) continue;
      uint64_t t = now_ns();
      int ok = check_reply(c);
      if (counting) {
        requests++;
        record(t - c->sent_ns);
        if (!ok) errors++;
        if (c->proc == PROC_RELEASE_RESOURCE) cycles++;
      }
      send_request(c, c->proc == PROC_ACQUIRE_RESOURCE ? PROC_RELEASE_RESOURCE : PROC_ACQUIRE_RESOURCE);
    }
    if (pfds[k].revents) {
      char cmd = read_command();
      if (cmd == 'm') { counting = 1; started = now_ns(); }
      else if (cmd == 's') stopped = now_ns();
    }
  }
  if (!started) started = stopped;
  printf("{\"connections\":%d,\"cycles\":%llu,\"requests\":%llu,\"errors\":%llu,\"elapsedNs\":%llu,"
         "\"p50Ms\":%.3f,\"p99Ms\":%.3f,\"latencyUs\":{",
         k, (unsigned long long)cycles, (unsigned long long)requests, (unsigned long long)errors,
         (unsigned long long)(stopped - started), percentile_ms(requests, 0.5), percentile_ms(requests, 0.99));
  /* Sparse histogram, bucket lower bound in us, so the bench can merge processes' latencies. */
  int first = 1;
  for (size_t i = 0; i < BUCKETS; i++) {
    if (!counts[i]) continue;
    printf("%s\"%llu\":%llu", first ? "" : ",", (unsigned long long)(i < FINE_US ? i : (i - FINE_US) * 1000),
           (unsigned long long)counts[i]);
    first = 0;
  }
  printf("}}\n");
  fflush(stdout);
  for (int i = 0; i < k; i++) close(conns[i].fd);
  return 0;
}
