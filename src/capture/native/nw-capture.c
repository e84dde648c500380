// prototype: libpcap (dlopen) ring -> aligned buffers -> O_DIRECT writes from a writer thread
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct pcap pcap_t;
struct pcap_pkthdr { struct timeval ts; uint32_t caplen; uint32_t len; };
struct pcap_stat { unsigned ps_recv, ps_drop, ps_ifdrop; };
struct bpf_program { unsigned bf_len; void *bf_insns; };
typedef void (*pcap_handler)(unsigned char *, const struct pcap_pkthdr *, const unsigned char *);

static pcap_t *(*p_create)(const char *, char *);
static int (*p_set_snaplen)(pcap_t *, int), (*p_set_buffer_size)(pcap_t *, int), (*p_set_promisc)(pcap_t *, int),
    (*p_set_timeout)(pcap_t *, int), (*p_activate)(pcap_t *), (*p_datalink)(pcap_t *), (*p_snapshot)(pcap_t *),
    (*p_compile)(pcap_t *, struct bpf_program *, const char *, int, uint32_t), (*p_setfilter)(pcap_t *, struct bpf_program *),
    (*p_dispatch)(pcap_t *, int, pcap_handler, unsigned char *), (*p_stats)(pcap_t *, struct pcap_stat *);
static void (*p_breakloop)(pcap_t *);
static char *(*p_geterr)(pcap_t *);
static void *(*p_dump_fopen)(pcap_t *, FILE *);
static void (*p_dump_close)(void *);

#define BUF_BYTES (4u << 20)
#define NBUF 8
#define ALIGN 4096u

static unsigned char *bufs[NBUF];
static size_t fill[NBUF];
static int state[NBUF]; // 0 free, 1 filling, 2 queued
static int cur = 0, wq_head = 0;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int out_fd = 1, done_writing = 0, write_error = 0;
static volatile sig_atomic_t want_stop = 0, want_info = 0;
static pcap_t *pc;
static unsigned long long captured = 0;

static void *writer(void *arg) {
  (void)arg;
  int idx = 0;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (state[idx] != 2 && !done_writing) pthread_cond_wait(&cv, &mu);
    if (state[idx] != 2) { pthread_mutex_unlock(&mu); return NULL; }
    pthread_mutex_unlock(&mu);
    size_t off = 0;
    while (off < fill[idx]) {
      ssize_t n = write(out_fd, bufs[idx] + off, fill[idx] - off);
      if (n < 0) { if (errno == EINTR) continue; write_error = errno; break; }
      off += (size_t)n;
    }
    pthread_mutex_lock(&mu);
    state[idx] = 0; fill[idx] = 0;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    idx = (idx + 1) % NBUF;
  }
}

static void hand_over(void) {
  pthread_mutex_lock(&mu);
  state[cur] = 2;
  pthread_cond_broadcast(&cv);
  int next = (cur + 1) % NBUF;
  while (state[next] != 0) pthread_cond_wait(&cv, &mu);
  state[next] = 1;
  cur = next;
  pthread_mutex_unlock(&mu);
}

static void put(const void *src, size_t n) {
  const unsigned char *s = src;
  while (n > 0) {
    size_t room = BUF_BYTES - fill[cur];
    size_t k = n < room ? n : room;
    memcpy(bufs[cur] + fill[cur], s, k);
    fill[cur] += k; s += k; n -= k;
    if (fill[cur] == BUF_BYTES) hand_over();
  }
}

static void on_packet(unsigned char *u, const struct pcap_pkthdr *h, const unsigned char *data) {
  (void)u;
  uint32_t rec[4] = {(uint32_t)h->ts.tv_sec, (uint32_t)h->ts.tv_usec, h->caplen, h->len};
  put(rec, 16);
  put(data, h->caplen);
  captured++;
}

static void on_term(int s) { (void)s; want_stop = 1; if (pc) p_breakloop(pc); }
static void on_usr1(int s) { (void)s; want_info = 1; if (pc) p_breakloop(pc); }

static void info(int final) {
  struct pcap_stat st = {0};
  p_stats(pc, &st);
  if (final)
    fprintf(stderr, "%llu packets captured\n%u packets received by filter\n%u packets dropped by kernel\n", captured, st.ps_recv, st.ps_drop);
  else
    fprintf(stderr, "%llu packets captured, %u packets received by filter, %u packets dropped by kernel\n", captured, st.ps_recv, st.ps_drop);
}

#define SYM(v, n) do { *(void **)&v = dlsym(lib, n); if (!v) { fprintf(stderr, "nw-capture: %s missing\n", n); return 2; } } while (0)

int main(int argc, char **argv) {
  const char *ifname = NULL, *expr = "", *outpath = "-";
  int snap = 262144, bufkib = 32768, optimize = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-i") && i + 1 < argc) ifname = argv[++i];
    else if (!strcmp(argv[i], "-s") && i + 1 < argc) snap = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-B") && i + 1 < argc) bufkib = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-w") && i + 1 < argc) outpath = argv[++i];
    else if (!strcmp(argv[i], "-O")) optimize = 0;
    else if (!strcmp(argv[i], "-n")) {}
    else if (!strcmp(argv[i], "--")) { if (i + 1 < argc) expr = argv[i + 1]; break; }
  }
  void *lib = dlopen("libpcap.so.0.8", RTLD_NOW);
  if (!lib) lib = dlopen("libpcap.so.1", RTLD_NOW);
  if (!lib) { fprintf(stderr, "nw-capture: %s\n", dlerror()); return 2; }
  SYM(p_create, "pcap_create"); SYM(p_set_snaplen, "pcap_set_snaplen"); SYM(p_set_buffer_size, "pcap_set_buffer_size");
  SYM(p_set_promisc, "pcap_set_promisc"); SYM(p_set_timeout, "pcap_set_timeout"); SYM(p_activate, "pcap_activate");
  SYM(p_datalink, "pcap_datalink"); SYM(p_snapshot, "pcap_snapshot"); SYM(p_compile, "pcap_compile");
  SYM(p_setfilter, "pcap_setfilter"); SYM(p_dispatch, "pcap_dispatch"); SYM(p_stats, "pcap_stats");
  SYM(p_breakloop, "pcap_breakloop"); SYM(p_geterr, "pcap_geterr"); SYM(p_dump_fopen, "pcap_dump_fopen");
  SYM(p_dump_close, "pcap_dump_close");
  char err[256];
  pc = p_create(ifname, err);
  if (!pc) { fprintf(stderr, "nw-capture: %s\n", err); return 1; }
  p_set_snaplen(pc, snap); p_set_buffer_size(pc, bufkib * 1024); p_set_promisc(pc, 1); p_set_timeout(pc, 1000);
  if (p_activate(pc) < 0) { fprintf(stderr, "nw-capture: %s\n", p_geterr(pc)); return 1; }
  struct bpf_program prog;
  if (p_compile(pc, &prog, expr, optimize, 0xffffffffu) < 0 || p_setfilter(pc, &prog) < 0) { fprintf(stderr, "nw-capture: %s\n", p_geterr(pc)); return 1; }
  if (strcmp(outpath, "-") != 0) { out_fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600); if (out_fd < 0) { perror("open"); return 1; } }
  int direct = fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_DIRECT) == 0;
  for (int i = 0; i < NBUF; i++) if (posix_memalign((void **)&bufs[i], ALIGN, BUF_BYTES)) return 3;
  state[0] = 1;
  // header exactly as libpcap writes it
  unsigned char hdr[64]; FILE *mf = fmemopen(hdr, sizeof hdr, "w");
  void *d = p_dump_fopen(pc, mf); fflush(mf); long hl = ftell(mf); p_dump_close(d);
  put(hdr, (size_t)hl);
  struct sigaction sa = {0}; sa.sa_handler = on_term; sigaction(SIGTERM, &sa, NULL); sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_usr1; sigaction(SIGUSR1, &sa, NULL);
  pthread_t th; pthread_create(&th, NULL, writer, NULL);
  fprintf(stderr, "listening on %s, link-type %d, snapshot length %d bytes%s\n", ifname, p_datalink(pc), p_snapshot(pc), direct ? " (direct)" : "");
  while (!want_stop) {
    int r = p_dispatch(pc, -1, on_packet, NULL);
    if (want_info) { want_info = 0; info(0); }
    if (r == -1) { fprintf(stderr, "nw-capture: %s\n", p_geterr(pc)); break; }
  }
  // drain: hand over the full part of the current buffer, then the tail without O_DIRECT
  pthread_mutex_lock(&mu);
  size_t tail_len = fill[cur] % ALIGN;
  size_t full = fill[cur] - tail_len;
  pthread_mutex_unlock(&mu);
  static unsigned char tail[ALIGN];
  memcpy(tail, bufs[cur] + full, tail_len);
  fill[cur] = full;
  if (full > 0) hand_over();
  pthread_mutex_lock(&mu); done_writing = 1; pthread_cond_broadcast(&cv); pthread_mutex_unlock(&mu);
  pthread_join(th, NULL);
  fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) & ~O_DIRECT);
  if (tail_len && write(out_fd, tail, tail_len) != (ssize_t)tail_len) write_error = errno;
  info(1);
  if (write_error) { fprintf(stderr, "nw-capture: write: %s\n", strerror(write_error)); return 1; }
  return 0;
}
