// nw-capture: the capture engine's own writer (issue 18). It does what `tcpdump -w` does for the
// engine — packets from libpcap's kernel ring into a pcap file, limits and rotation by tcpdump's
// own options, tcpdump's lines on stderr — with one copy fewer and without the page cache:
//
//   kernel ring (TPACKET_V3, mapped) --copy--> 4 MiB pieces, 4 KiB-aligned --O_DIRECT--> file
//
// tcpdump copies each packet into a 4 KiB (or stdbuf's) stdio buffer and write(2) copies it again
// into the page cache, both on the thread that must also drain the ring. At saturation on a busy
// 2-core host that second copy and the page-cache bookkeeping are what it cannot keep up with
// (bench/capture-fidelity: bare `tcpdump -B 32768` kept 0.73-0.90 of the offered full-size
// segments). Here the capture thread only copies into a piece; a writer thread hands whole pieces
// to the disk with O_DIRECT (DMA from the piece, no CPU copy, no dirty-page throttling), so the
// capture thread goes back to the ring at once.
//
// Why libpcap, loaded with dlopen: it is what tcpdump uses (same ring set-up, same filter
// compiler, same pcap header, same counters), it is installed wherever tcpdump is, and loading it
// at run time needs no development package to build this file. The few declarations it needs are
// below; they are libpcap's stable public ABI (pcap.h since 1.0).
//
// The contract with the engine (src/capture) is tcpdump's command line and stderr, a strict
// subset documented in usage() below and in docs/capture.md; anything else is refused (exit 2).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// ---- libpcap's public ABI (pcap/pcap.h) -------------------------------------------------------
typedef struct pcap pcap_t;
typedef struct pcap_dumper pcap_dumper_t;
struct pcap_pkthdr {
  struct timeval ts;
  uint32_t caplen;
  uint32_t len;
};
struct pcap_stat {
  unsigned ps_recv, ps_drop, ps_ifdrop;
};
struct bpf_program {
  unsigned bf_len;
  void *bf_insns;
};
typedef void (*pcap_handler)(unsigned char *, const struct pcap_pkthdr *, const unsigned char *);
#define PCAP_ERRBUF_SIZE 256
#define PCAP_ERROR (-1)
#define PCAP_ERROR_BREAK (-2)
#define PCAP_NETMASK_UNKNOWN 0xffffffffu
#define DLT_LINUX_SLL 113
#define DLT_LINUX_SLL2 276

static struct {
  pcap_t *(*create)(const char *, char *);
  int (*set_snaplen)(pcap_t *, int);
  int (*set_buffer_size)(pcap_t *, int);
  int (*set_promisc)(pcap_t *, int);
  int (*set_timeout)(pcap_t *, int);
  int (*set_immediate_mode)(pcap_t *, int);
  int (*activate)(pcap_t *);
  const char *(*statustostr)(int);
  char *(*geterr)(pcap_t *);
  int (*datalink)(pcap_t *);
  const char *(*datalink_val_to_name)(int);
  const char *(*datalink_val_to_description)(int);
  int (*snapshot)(pcap_t *);
  int (*lookupnet)(const char *, uint32_t *, uint32_t *, char *);
  int (*compile)(pcap_t *, struct bpf_program *, const char *, int, uint32_t);
  int (*setfilter)(pcap_t *, struct bpf_program *);
  void (*freecode)(struct bpf_program *);
  int (*dispatch)(pcap_t *, int, pcap_handler, unsigned char *);
  void (*breakloop)(pcap_t *);
  int (*stats)(pcap_t *, struct pcap_stat *);
  pcap_dumper_t *(*dump_fopen)(pcap_t *, FILE *);
  void (*dump_close)(pcap_dumper_t *);
  const char *(*lib_version)(void);
  int (*setnonblock)(pcap_t *, int, char *);
  int (*get_selectable_fd)(pcap_t *);
  int (*set_datalink)(pcap_t *, int);
} pcap;

// ---- limits ---------------------------------------------------------------------------------
#define PIECE_BYTES (4u << 20) // one O_DIRECT write: large enough that the disk streams
#define PIECE_COUNT 8          // up to 32 MiB in flight between the capture and the writer thread
#define WRITER_THREADS 3       // O_DIRECT writes in flight at once (see writer_main)
#define DIRECT_ALIGN 4096u     // O_DIRECT needs offsets, lengths and addresses on the logical block
#define MAX_SNAPLEN 262144     // libpcap's MAXIMUM_SNAPLEN; tcpdump maps -s 0 to it
// On a quiet link the kernel hands a block of the ring over only when this timer retires it; tcpdump
// uses 1 s, so its packets (its counters, the engine's status, a stop's wait for the last packets)
// lag by up to a second. At load blocks fill and retire long before; on a quiet link this costs five
// wake-ups a second.
#define RING_BLOCK_TIMEOUT_MS 200
#define QUIET_FLUSH_NS 250000000LL // then bytes not yet in the file are written this soon
#define RECORD_HEADER_BYTES 16u
#define FILE_HEADER_BYTES 24u

// ---- options ----------------------------------------------------------------------------------
static struct {
  const char *interface_name;
  const char *output; // "-" = stdout
  char *expression;
  int snaplen;
  long long buffer_kib; // 0 = libpcap's default
  int optimize;
  int flush_each_batch; // -U
  int immediate;
  const char *user; // -Z
  long long rotate_millions; // -C
  long long rotate_seconds;  // -G
  long long file_size_bytes; // --file-size-bytes
} opt = {.snaplen = MAX_SNAPLEN, .optimize = 1};

static void message(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nw-capture: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void usage(void) {
  fputs("usage: nw-capture -i INTERFACE [-n] [-O] [-s SNAPLEN] [-B KIB] -w FILE|- [-U] [-Z USER]\n"
        "                  [--immediate-mode] [-C MILLIONS | --file-size-bytes N] [-G SECONDS] [--] [EXPRESSION]\n"
        "       nw-capture --version\n"
        "Options mean what they mean to tcpdump; --file-size-bytes N starts a new file before the record\n"
        "that would take it past N bytes. Signals: USR1 prints the counters, TERM/INT/HUP stop.\n",
        stderr);
}

// A whole decimal integer in [min, max], or -1 after a message.
static int parse_integer(const char *name, const char *text, long long min, long long max, long long *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    message("invalid %s %s (expected an integer from %lld to %lld)", name, text, min, max);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_options(int argc, char **argv) {
  int i = 1;
  long long v;
  for (; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-') break; // the expression starts (tcpdump's own rule)
    if (strcmp(a, "-n") == 0) continue; // names are never resolved when writing a file
    if (strcmp(a, "-O") == 0) {
      opt.optimize = 0;
      continue;
    }
    if (strcmp(a, "-U") == 0) {
      opt.flush_each_batch = 1;
      continue;
    }
    if (strcmp(a, "--immediate-mode") == 0) {
      opt.immediate = 1;
      continue;
    }
    static const char *const with_value[] = {"-i", "-w", "-Z", "-s", "-B", "-C", "-G", "--file-size-bytes"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= strcmp(a, with_value[k]) == 0;
    if (!known) {
      message("unknown option %s", a);
      return -1;
    }
    if (!has_value) {
      message("option %s needs a value", a);
      return -1;
    }
    const char *value = argv[++i];
    if (strcmp(a, "-i") == 0) {
      if (value[0] == '\0') {
        message("empty interface name");
        return -1;
      }
      opt.interface_name = value;
    } else if (strcmp(a, "-w") == 0) {
      if (value[0] == '\0') {
        message("empty output file name");
        return -1;
      }
      opt.output = value;
    } else if (strcmp(a, "-Z") == 0) {
      opt.user = value;
    } else if (strcmp(a, "-s") == 0) {
      if (parse_integer("snapshot length", value, 0, MAX_SNAPLEN, &v) < 0) return -1;
      opt.snaplen = v == 0 ? MAX_SNAPLEN : (int)v;
    } else if (strcmp(a, "-B") == 0) {
      if (parse_integer("buffer size (KiB)", value, 1, INT_MAX / 1024, &v) < 0) return -1;
      opt.buffer_kib = v;
    } else if (strcmp(a, "-C") == 0) {
      if (parse_integer("file size (millions of bytes)", value, 1, 1000000000LL, &v) < 0) return -1;
      opt.rotate_millions = v;
    } else if (strcmp(a, "-G") == 0) {
      if (parse_integer("rotation interval (seconds)", value, 1, 100000000LL, &v) < 0) return -1;
      opt.rotate_seconds = v;
    } else if (strcmp(a, "--file-size-bytes") == 0) {
      if (parse_integer("file size (bytes)", value, FILE_HEADER_BYTES + RECORD_HEADER_BYTES + 1, INT64_MAX / 2, &v) < 0)
        return -1;
      opt.file_size_bytes = v;
    } else {
      message("unknown option %s", a);
      return -1;
    }
  }
  // The rest is the filter, its words joined by spaces as tcpdump joins them.
  size_t total = 1;
  for (int k = i; k < argc; k++) total += strlen(argv[k]) + 1;
  opt.expression = calloc(1, total);
  if (opt.expression == NULL) return -1;
  for (int k = i; k < argc; k++) {
    if (k > i) strcat(opt.expression, " ");
    strcat(opt.expression, argv[k]);
  }
  if (opt.interface_name == NULL) {
    message("-i INTERFACE is required");
    return -1;
  }
  if (opt.output == NULL) {
    message("-w FILE (or -w - for standard output) is required");
    return -1;
  }
  int rotates = opt.rotate_millions > 0 || opt.rotate_seconds > 0 || opt.file_size_bytes > 0;
  if (rotates && strcmp(opt.output, "-") == 0) {
    message("-C, -G and --file-size-bytes need -w FILE, not standard output");
    return -1;
  }
  if (opt.rotate_millions > 0 && opt.file_size_bytes > 0) {
    message("-C and --file-size-bytes exclude each other");
    return -1;
  }
  return 0;
}

// ---- pieces: the capture thread fills them in file order, the writer thread writes them ----------
enum piece_state { PIECE_FREE, PIECE_FILLING, PIECE_QUEUED };
struct piece {
  unsigned char *data;
  size_t fill;         // bytes of the file in data[0, fill)
  uint64_t offset;     // file offset of data[0]
  char *open_path;     // open this file before writing (malloc'd), or NULL
  int open_stdout;     // write to standard output, opened before the first piece
  int close_after;     // the file ends with this piece
  int stop_after;      // the writer thread ends after this piece
  enum piece_state state;
};

static struct piece pieces[PIECE_COUNT];
static int filling = 0; // index of the piece the capture thread fills
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int write_errno = 0;          // first write error; the writer then writes nothing more
static char write_error_path[PATH_MAX + 1];
static int output_seekable = 1;      // standard output may be a pipe: then no pwrite, no O_DIRECT
static uint64_t stdout_base = 0;     // where standard output's position was: its file starts there

static volatile sig_atomic_t stop_requested = 0, info_requested = 0;
static pcap_t *handle = NULL;
// Wakes the capture loop's poll: written by the signal handlers (write(2) is async-signal-safe, and
// a signal between the loop's check and its poll is then not missed) and by a failing writer.
static int wake_fd = -1;

static void wake(void) {
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd, &one, sizeof one);
  (void)ignored;
}

// Counters for the SIGUSR1 line: records handed to the writer, as tcpdump's "captured".
static unsigned long long packets_captured = 0;

// The capture thread's view of the file being written.
static uint64_t file_bytes = 0;      // logical size of the current file (all records appended)
static uint64_t file_records = 0;    // records in the current file
static size_t piece_carried = 0;     // bytes at the start of the filling piece already written (a tail)
static long long piece_dirty_since_ns = -1; // when the filling piece got bytes not yet in the file
static long long rotation_count = 0; // tcpdump's Cflag_count
static time_t period_start = 0;      // tcpdump's Gflag_time
static unsigned char file_header[FILE_HEADER_BYTES];
static size_t file_header_bytes = 0;

static long long waits = 0, waited_ns = 0;
static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// ---- the writer thread ----------------------------------------------------------------------
static int out_fd = -1;
static int out_direct = 0;       // O_DIRECT is set on out_fd now
static int out_direct_usable = 0; // the file's file system takes O_DIRECT
static char out_path[PATH_MAX + 1];

static void set_direct(int on) {
  if (!out_direct_usable || on == out_direct) return;
  int flags = fcntl(out_fd, F_GETFL);
  if (flags >= 0 && fcntl(out_fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) == 0) {
    out_direct = on;
  } else if (on) {
    out_direct_usable = 0;
  }
}

static int write_all(const unsigned char *data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = output_seekable ? pwrite(out_fd, data, n, (off_t)offset) : write(out_fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && out_direct) {
        // The file system accepted the flag but not this write: ordinary writes from now on.
        set_direct(0);
        out_direct_usable = 0;
        continue;
      }
      return errno;
    }
    data += w;
    n -= (size_t)w;
    offset += (uint64_t)w;
  }
  return 0;
}

static int open_output(struct piece *p) {
  if (p->open_stdout) {
    out_fd = STDOUT_FILENO;
    snprintf(out_path, sizeof out_path, "standard output");
  } else {
    // O_NONBLOCK: a FIFO planted at the path must not block the open; it is refused below.
    out_fd = open(p->open_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    snprintf(out_path, sizeof out_path, "%s", p->open_path);
    if (out_fd < 0) return errno;
  }
  struct stat st;
  if (fstat(out_fd, &st) != 0) return errno;
  if (!p->open_stdout && !S_ISREG(st.st_mode)) return EINVAL;
  int flags = fcntl(out_fd, F_GETFL);
  if (flags >= 0 && !p->open_stdout) fcntl(out_fd, F_SETFL, flags & ~O_NONBLOCK);
  out_direct = 0;
  out_direct_usable = S_ISREG(st.st_mode) && output_seekable && (!p->open_stdout || stdout_base % DIRECT_ALIGN == 0);
  set_direct(1); // fails on tmpfs and other file systems without direct I/O: ordinary writes then
  return 0;
}

static int write_piece(struct piece *p) {
  if (p->open_path != NULL || p->open_stdout) {
    int e = open_output(p);
    if (e != 0) return e;
  }
  // With O_DIRECT the aligned part goes straight from the piece; the rest (a tail shorter than a
  // block, only at a flush or at the end of a file) through the page cache. The capture thread
  // starts the next piece with that tail again, so the next direct write begins aligned.
  size_t aligned = out_direct && output_seekable ? p->fill & ~(size_t)(DIRECT_ALIGN - 1) : 0;
  int e = 0;
  if (aligned > 0) e = write_all(p->data, aligned, p->offset);
  if (e == 0 && p->fill > aligned) {
    set_direct(0);
    e = write_all(p->data + aligned, p->fill - aligned, p->offset + aligned);
    // Back on for the next piece, which starts on a block again.
    if (!p->close_after) set_direct(1);
  }
  if (e == 0 && p->close_after) {
    set_direct(0); // standard output's description is the engine's file: leave it as it was
    if (out_fd == STDOUT_FILENO) {
      // pwrite does not move the position: leave it after the file, as write(2) would have.
      if (output_seekable) lseek(out_fd, (off_t)(p->offset + p->fill), SEEK_SET);
    } else if (close(out_fd) != 0) {
      e = errno;
    }
    out_fd = -1;
  }
  return e;
}

// Pieces are taken in file order. A whole aligned piece (the bulk at load) is written while up to
// WRITER_THREADS - 1 others are: one O_DIRECT write at a time keeps this disk at ~1.2 GB/s while
// capturing, two or more in flight reach its ~2 GB/s. Every other piece — one that opens or closes
// a file, or ends in a tail written through the page cache (which needs O_DIRECT off on the shared
// description) — waits until every earlier piece is written and is written alone.
static int next_to_take = 0;
static int writes_in_flight = 0;
static int alone_in_flight = 0;
static int writers_stopping = 0;

static int is_bulk(const struct piece *p) {
  return output_seekable && p->open_path == NULL && !p->open_stdout && !p->close_after && !p->stop_after &&
         p->fill % DIRECT_ALIGN == 0;
}

static void *writer_main(void *unused) {
  (void)unused;
  for (;;) {
    pthread_mutex_lock(&lock);
    struct piece *p;
    for (;;) {
      if (writers_stopping) {
        pthread_mutex_unlock(&lock);
        return NULL;
      }
      p = &pieces[next_to_take];
      if (p->state == PIECE_QUEUED && !alone_in_flight && (is_bulk(p) || writes_in_flight == 0)) break;
      pthread_cond_wait(&changed, &lock);
    }
    int alone = !is_bulk(p);
    next_to_take = (next_to_take + 1) % PIECE_COUNT;
    writes_in_flight++;
    alone_in_flight = alone;
    int failed = write_errno != 0;
    pthread_mutex_unlock(&lock);
    int e = failed ? 0 : write_piece(p);
    pthread_mutex_lock(&lock);
    if (e != 0 && write_errno == 0) {
      write_errno = e;
      snprintf(write_error_path, sizeof write_error_path, "%s", out_path);
      wake();
    }
    if (p->stop_after) writers_stopping = 1;
    free(p->open_path);
    p->open_path = NULL;
    p->open_stdout = p->close_after = p->stop_after = 0;
    p->fill = 0;
    p->state = PIECE_FREE;
    writes_in_flight--;
    if (alone) alone_in_flight = 0;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
  }
}

// ---- the capture thread's side ----------------------------------------------------------------
// Queues the filling piece and takes the next one, which starts at `next_offset` with `carry`
// bytes of the queued one copied in (a tail already written, or nothing).
static void queue_piece(int close_after, int stop_after) {
  struct piece *p = &pieces[filling];
  size_t carry = 0;
  if (!close_after && output_seekable) carry = p->fill % DIRECT_ALIGN;
  uint64_t next_offset = p->offset + p->fill - carry;
  int next = (filling + 1) % PIECE_COUNT;
  pthread_mutex_lock(&lock);
  p->close_after = close_after;
  p->stop_after = stop_after;
  // The tail is copied before the piece is queued: the writer must not free it first.
  if (pieces[next].state != PIECE_FREE) {
    long long t0 = now_ns();
    while (pieces[next].state != PIECE_FREE) pthread_cond_wait(&changed, &lock);
    waits++;
    waited_ns += now_ns() - t0;
  }
  if (carry > 0) memcpy(pieces[next].data, p->data + p->fill - carry, carry);
  p->state = PIECE_QUEUED;
  pieces[next].state = PIECE_FILLING;
  pieces[next].fill = carry;
  pieces[next].offset = next_offset;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  filling = next;
  piece_carried = carry;
  piece_dirty_since_ns = -1;
}

static void append(const void *source, size_t n) {
  const unsigned char *s = source;
  while (n > 0) {
    struct piece *p = &pieces[filling];
    if (piece_dirty_since_ns < 0) piece_dirty_since_ns = now_ns();
    size_t room = PIECE_BYTES - p->fill;
    size_t k = n < room ? n : room;
    memcpy(p->data + p->fill, s, k);
    p->fill += k;
    s += k;
    n -= k;
    if (p->fill == PIECE_BYTES) queue_piece(0, 0);
  }
  file_bytes += (uint64_t)(s - (const unsigned char *)source);
}

// tcpdump's MakeFilename: the -w name through strftime when -G is on, then the count when not 0.
static char *file_name(long long count) {
  char expanded[PATH_MAX + 1];
  if (opt.rotate_seconds > 0) {
    struct tm tm;
    if (localtime_r(&period_start, &tm) == NULL || strftime(expanded, sizeof expanded, opt.output, &tm) == 0) {
      message("cannot expand the file name %s", opt.output);
      return NULL;
    }
  } else {
    snprintf(expanded, sizeof expanded, "%s", opt.output);
  }
  char *name = malloc(PATH_MAX + 1);
  if (name == NULL) return NULL;
  int n = count == 0 ? snprintf(name, PATH_MAX + 1, "%s", expanded)
                     : snprintf(name, PATH_MAX + 1, "%s%lld", expanded, count);
  if (n < 0 || n > PATH_MAX) {
    message("file name too long: %s", expanded);
    free(name);
    return NULL;
  }
  return name;
}

// Starts a file in the filling piece (which is empty and at offset 0 after queue_piece with close).
static int start_file(void) {
  struct piece *p = &pieces[filling];
  p->offset = strcmp(opt.output, "-") == 0 ? stdout_base : 0;
  p->fill = 0;
  piece_carried = 0;
  if (strcmp(opt.output, "-") == 0) {
    p->open_stdout = 1;
  } else {
    p->open_path = file_name(rotation_count);
    if (p->open_path == NULL) return -1;
  }
  file_bytes = 0;
  file_records = 0;
  append(file_header, file_header_bytes);
  return 0;
}

static int rotate(void) {
  queue_piece(1, 0);
  pieces[filling].offset = 0;
  pieces[filling].fill = 0;
  return start_file();
}

static int rotate_failed = 0;

static void on_packet(unsigned char *unused, const struct pcap_pkthdr *h, const unsigned char *bytes) {
  (void)unused;
  if (rotate_failed) return;
  uint64_t record = RECORD_HEADER_BYTES + h->caplen;
  // tcpdump's order: the time rotation first, then the size rotation, both before the packet.
  if (opt.rotate_seconds > 0) {
    time_t t = time(NULL);
    if (t - period_start >= opt.rotate_seconds) {
      period_start = t;
      rotation_count = 0;
      if (rotate() < 0) goto failed;
    }
  }
  if ((opt.rotate_millions > 0 && file_bytes > (uint64_t)opt.rotate_millions * 1000000u) ||
      (opt.file_size_bytes > 0 && file_records > 0 && file_bytes + record > (uint64_t)opt.file_size_bytes)) {
    rotation_count++;
    if (rotate() < 0) goto failed;
  }
  // pcap's record header: 32-bit seconds and microseconds, as tcpdump -w writes them.
  uint32_t header[4] = {(uint32_t)h->ts.tv_sec, (uint32_t)h->ts.tv_usec, h->caplen, h->len};
  append(header, sizeof header);
  append(bytes, h->caplen);
  file_records++;
  packets_captured++;
  return;
failed:
  rotate_failed = 1;
  pcap.breakloop(handle); // out of this batch; the loop then ends
}

static void print_counters(int at_exit) {
  struct pcap_stat st;
  memset(&st, 0, sizeof st);
  if (pcap.stats(handle, &st) < 0) {
    message("pcap_stats: %s", pcap.geterr(handle));
    return;
  }
  if (at_exit)
    fprintf(stderr, "%llu packet%s captured\n%u packet%s received by filter\n%u packet%s dropped by kernel\n",
            packets_captured, packets_captured == 1 ? "" : "s", st.ps_recv, st.ps_recv == 1 ? "" : "s", st.ps_drop,
            st.ps_drop == 1 ? "" : "s");
  else
    fprintf(stderr, "%llu packet%s captured, %u packet%s received by filter, %u packet%s dropped by kernel\n",
            packets_captured, packets_captured == 1 ? "" : "s", st.ps_recv, st.ps_recv == 1 ? "" : "s", st.ps_drop,
            st.ps_drop == 1 ? "" : "s");
}

static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
  wake();
}

static void on_info_signal(int sig) {
  (void)sig;
  info_requested = 1;
  wake();
}

static int load_libpcap(void) {
  void *lib = dlopen("libpcap.so.0.8", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) lib = dlopen("libpcap.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    message("cannot load libpcap (install tcpdump, which brings it): %s", dlerror());
    return -1;
  }
#define SYMBOL(field, name)                                            \
  do {                                                                 \
    *(void **)&pcap.field = dlsym(lib, name);                          \
    if (pcap.field == NULL) {                                          \
      message("libpcap has no %s (libpcap 1.5 or later needed)", name); \
      return -1;                                                       \
    }                                                                  \
  } while (0)
  SYMBOL(create, "pcap_create");
  SYMBOL(set_snaplen, "pcap_set_snaplen");
  SYMBOL(set_buffer_size, "pcap_set_buffer_size");
  SYMBOL(set_promisc, "pcap_set_promisc");
  SYMBOL(set_timeout, "pcap_set_timeout");
  SYMBOL(set_immediate_mode, "pcap_set_immediate_mode");
  SYMBOL(activate, "pcap_activate");
  SYMBOL(statustostr, "pcap_statustostr");
  SYMBOL(geterr, "pcap_geterr");
  SYMBOL(datalink, "pcap_datalink");
  SYMBOL(datalink_val_to_name, "pcap_datalink_val_to_name");
  SYMBOL(datalink_val_to_description, "pcap_datalink_val_to_description");
  SYMBOL(snapshot, "pcap_snapshot");
  SYMBOL(lookupnet, "pcap_lookupnet");
  SYMBOL(compile, "pcap_compile");
  SYMBOL(setfilter, "pcap_setfilter");
  SYMBOL(freecode, "pcap_freecode");
  SYMBOL(dispatch, "pcap_dispatch");
  SYMBOL(breakloop, "pcap_breakloop");
  SYMBOL(stats, "pcap_stats");
  SYMBOL(dump_fopen, "pcap_dump_fopen");
  SYMBOL(dump_close, "pcap_dump_close");
  SYMBOL(lib_version, "pcap_lib_version");
  SYMBOL(setnonblock, "pcap_setnonblock");
  SYMBOL(get_selectable_fd, "pcap_get_selectable_fd");
  SYMBOL(set_datalink, "pcap_set_datalink");
#undef SYMBOL
  return 0;
}

// The pcap file header exactly as libpcap writes it for this handle (magic, version, snap length,
// and the link type mapped from the DLT as pcap_dump_open maps it), written into memory.
static int make_file_header(void) {
  unsigned char scratch[64];
  FILE *memory = fmemopen(scratch, sizeof scratch, "w");
  if (memory == NULL) return -1;
  pcap_dumper_t *dumper = pcap.dump_fopen(handle, memory);
  if (dumper == NULL) {
    fclose(memory);
    message("%s", pcap.geterr(handle));
    return -1;
  }
  fflush(memory);
  long n = ftell(memory);
  pcap.dump_close(dumper); // closes `memory`
  if (n != (long)FILE_HEADER_BYTES) {
    message("unexpected pcap header of %ld bytes", n);
    return -1;
  }
  memcpy(file_header, scratch, FILE_HEADER_BYTES);
  file_header_bytes = FILE_HEADER_BYTES;
  return 0;
}

// -Z USER as tcpdump does it: after the capture is open, before any file is.
static int switch_user(void) {
  if (opt.user == NULL || strcmp(opt.user, "root") == 0 || geteuid() != 0) return 0;
  struct passwd *pw = getpwnam(opt.user);
  if (pw == NULL) {
    message("unknown user %s", opt.user);
    return -1;
  }
  int parent_death_signal = 0;
  prctl(PR_GET_PDEATHSIG, &parent_death_signal);
  if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
    message("cannot switch to user %s: %s", opt.user, strerror(errno));
    return -1;
  }
  // A change of user clears the parent-death signal; the engine relies on it.
  if (parent_death_signal != 0) prctl(PR_SET_PDEATHSIG, parent_death_signal);
  return 0;
}

static int open_capture(void) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  handle = pcap.create(opt.interface_name, errbuf);
  if (handle == NULL) {
    message("%s", errbuf);
    return -1;
  }
  pcap.set_snaplen(handle, opt.snaplen);
  pcap.set_promisc(handle, 1); // tcpdump's default (no -p here)
  pcap.set_timeout(handle, RING_BLOCK_TIMEOUT_MS);
  if (opt.buffer_kib > 0) pcap.set_buffer_size(handle, (int)(opt.buffer_kib * 1024));
  if (opt.immediate) pcap.set_immediate_mode(handle, 1);
  int status = pcap.activate(handle);
  if (status < 0) {
    const char *detail = pcap.geterr(handle);
    if (status == PCAP_ERROR)
      message("%s: %s", opt.interface_name, detail);
    else if (detail != NULL && detail[0] != '\0' && strcmp(detail, pcap.statustostr(status)) != 0)
      message("%s: %s (%s)", opt.interface_name, pcap.statustostr(status), detail);
    else
      message("%s: %s", opt.interface_name, pcap.statustostr(status));
    return -1;
  }
  if (status > 0) message("WARNING: %s: %s (%s)", opt.interface_name, pcap.statustostr(status), pcap.geterr(handle));
  // tcpdump 4.99 captures "any" as Linux cooked v2 (it names the interface of each packet) where
  // libpcap offers it; the files must have the same link type to be merged with tcpdump's.
  if (strcmp(opt.interface_name, "any") == 0 && pcap.datalink(handle) == DLT_LINUX_SLL)
    pcap.set_datalink(handle, DLT_LINUX_SLL2);
  uint32_t net = 0, mask = 0;
  if (pcap.lookupnet(opt.interface_name, &net, &mask, errbuf) < 0) mask = 0;
  struct bpf_program program;
  if (pcap.compile(handle, &program, opt.expression, opt.optimize, mask) < 0) {
    message("%s", pcap.geterr(handle));
    return -1;
  }
  if (pcap.setfilter(handle, &program) < 0) {
    message("%s", pcap.geterr(handle));
    return -1;
  }
  pcap.freecode(&program);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    if (load_libpcap() < 0) return 1;
    printf("nw-capture 1 (%s)\n", pcap.lib_version());
    return 0;
  }
  if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage();
    return 0;
  }
  if (parse_options(argc, argv) < 0) {
    usage();
    return 2;
  }
  if (load_libpcap() < 0) return 1;
  if (strcmp(opt.output, "-") == 0) {
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) != 0) {
      message("standard output: %s", strerror(errno));
      return 1;
    }
    // pwrite on an O_APPEND description appends wherever it is told to write: sequential then.
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    output_seekable = S_ISREG(st.st_mode) && flags >= 0 && (flags & O_APPEND) == 0;
    if (output_seekable) {
      off_t at = lseek(STDOUT_FILENO, 0, SEEK_CUR);
      stdout_base = at > 0 ? (uint64_t)at : 0;
    }
  }
  wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    message("eventfd: %s", strerror(errno));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop_signal; // no SA_RESTART: the ring's poll must return
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_info_signal;
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); // a closed pipe is a write error, reported

  if (open_capture() < 0) return 1;
  // The loop below polls the capture itself, with its own timeout: in blocking mode libpcap waits
  // on a TPACKET_V3 ring without one (it relies on the kernel's block timer), so bytes already taken
  // from the ring could wait in a piece for as long as the link stays quiet.
  char nonblock_error[PCAP_ERRBUF_SIZE] = "";
  if (pcap.setnonblock(handle, 1, nonblock_error) < 0) {
    message("%s", nonblock_error);
    return 1;
  }
  int capture_fd = pcap.get_selectable_fd(handle);
  if (capture_fd < 0) {
    message("%s: no descriptor to wait on", opt.interface_name);
    return 1;
  }
  if (switch_user() < 0) return 1;
  if (make_file_header() < 0) return 1;
  for (int i = 0; i < PIECE_COUNT; i++) {
    if (posix_memalign((void **)&pieces[i].data, DIRECT_ALIGN, PIECE_BYTES) != 0) {
      message("out of memory");
      return 1;
    }
  }
  pthread_t writers[WRITER_THREADS];
  for (int i = 0; i < WRITER_THREADS; i++) {
    if (pthread_create(&writers[i], NULL, writer_main, NULL) != 0) {
      message("cannot start the writer threads");
      return 1;
    }
  }
  pieces[0].state = PIECE_FILLING;
  period_start = time(NULL);
  if (start_file() < 0) return 1;
  // The first file is opened now, as tcpdump opens it before it listens: a path that cannot be
  // written fails the start, not the first write. Later files are opened by the writer threads.
  int open_error = open_output(&pieces[0]);
  if (open_error != 0) {
    message("%s: %s", out_path, open_error == EINVAL ? "not a regular file" : strerror(open_error));
    return 1;
  }
  free(pieces[0].open_path);
  pieces[0].open_path = NULL;
  pieces[0].open_stdout = 0;

  const char *link_name = pcap.datalink_val_to_name(pcap.datalink(handle));
  const char *link_description = pcap.datalink_val_to_description(pcap.datalink(handle));
  fprintf(stderr, "listening on %s, link-type %s (%s), snapshot length %d bytes\n", opt.interface_name,
          link_name != NULL ? link_name : "?", link_description != NULL ? link_description : "?",
          pcap.snapshot(handle));

  int exit_code = 0;
  while (!stop_requested) {
    int timeout_ms = -1;
    if (piece_dirty_since_ns >= 0) {
      long long left_ns = piece_dirty_since_ns + QUIET_FLUSH_NS - now_ns();
      timeout_ms = left_ns <= 0 ? 0 : (int)(left_ns / 1000000) + 1;
    }
    struct pollfd waits_for[2] = {{.fd = capture_fd, .events = POLLIN}, {.fd = wake_fd, .events = POLLIN}};
    if (poll(waits_for, 2, timeout_ms) < 0 && errno != EINTR) {
      message("poll: %s", strerror(errno));
      exit_code = 1;
      break;
    }
    if (waits_for[1].revents & POLLIN) {
      uint64_t count;
      ssize_t ignored = read(wake_fd, &count, sizeof count);
      (void)ignored;
    }
    int n = pcap.dispatch(handle, -1, on_packet, NULL);
    if (info_requested) {
      info_requested = 0;
      print_counters(0);
    }
    pthread_mutex_lock(&lock);
    int failed = write_errno != 0;
    pthread_mutex_unlock(&lock);
    if (failed || rotate_failed) {
      exit_code = 1;
      break;
    }
    if (n == PCAP_ERROR) {
      message("%s", pcap.geterr(handle)); // e.g. "The interface went down"
      exit_code = 1;
      break;
    }
    // libpcap reads the socket's error itself (and fails the next call); do not spin meanwhile.
    if (waits_for[0].revents & (POLLERR | POLLHUP | POLLNVAL)) usleep(10000);
    // Bytes not yet in the file: with -U after every batch, else once they are QUIET_FLUSH_NS old
    // (at load a piece fills long before; on a quiet link this keeps the file's size, which the
    // engine watches for its limit and its status, close behind the packets).
    struct piece *p = &pieces[filling];
    if (p->fill > piece_carried &&
        (opt.flush_each_batch || (piece_dirty_since_ns >= 0 && now_ns() - piece_dirty_since_ns >= QUIET_FLUSH_NS)))
      queue_piece(0, 0);
  }
  // Everything captured goes to the file, which is then closed.
  queue_piece(1, 1);
  for (int i = 0; i < WRITER_THREADS; i++) pthread_join(writers[i], NULL);
  if (write_errno != 0) {
    message("write %s: %s", write_error_path, strerror(write_errno));
    exit_code = 1;
  }
  print_counters(1);
  // For benchmarks: how long the capture thread waited for the disk (the ring filled meanwhile).
  if (getenv("NW_CAPTURE_DEBUG") != NULL)
    message("debug: %lld waits for a free piece, %.1f ms in all", waits, waited_ns / 1e6);
  return exit_code;
}
