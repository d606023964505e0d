/* A binary upgrade with a successor that is ready before the handover: the serving generation starts the next one,
 * which starts up and waits for the region (kho_init_wait) while the old one still serves; only then does the old
 * one stop serving, preserve, save, finalize and let go (kho_exit lets go before it unmaps), and the successor boots,
 * restores and serves while the old one is still tearing down. The blackout is finalize + boot + restore.
 *   successor REGION [MIB [ORDER]]  generation 1: builds MIB MiB (default 8) of values in folios of 2^ORDER pages
 *                                (default 9: 2 MiB), starts generation 2 (this program again), hands over, then
 *                                waits for it to finish
 *   successor next REGION FD     generation 2 (started by the above): says 'r' on FD, waits, boots, restores, checks
 * Every moment is CLOCK_MONOTONIC, one clock for both processes; the stop-serving moment travels in the handover.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <kstate.h>

#define MAX_ORDER 9
#define MAX_BYTES (16ULL << 30)
#define WAIT_MS 60000

/* What travels in the "successor" subtree: the stop-serving moment and where the values are. */
struct handover {
    uint64_t stopped_ns;
    uint64_t count;
    uint64_t order;
    phys_addr_t phys[];
};

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double ms(uint64_t from, uint64_t to) { return (double)(to - from) / 1e6; }

/* A value's bytes are a function of the folio and the offset, so the successor can check every byte. */
static uint64_t word(uint64_t folio, uint64_t i) { return (folio + 1) * 0x9E3779B97F4A7C15ULL ^ i; }

static int fail(const char *who, const char *what, int err)
{
    fprintf(stderr, "successor %s: %s: %s (%s)\n", who, what, kstate_strerror(err), kstate_last_error());
    return 1;
}

static int generation2(const char *region, int ready)
{
    /* Process start and runtime are over: tell the predecessor, which stops serving only now. */
    if (write(ready, "r", 1) != 1) return 1;
    close(ready);
    int err = kho_init_wait(region, 0, WAIT_MS);
    if (err) return fail("gen2", "kho_init_wait", err);
    uint64_t booted = now_ns();
    const struct handover *h = NULL;
    size_t size = 0;
    if (!is_kho_boot()) return fail("gen2", "is_kho_boot", -ENOENT);
    if ((err = kho_retrieve_subtree("successor", (const void **)&h, &size))) return fail("gen2", "kho_retrieve_subtree", err);
    if (size < sizeof *h || h->order > MAX_ORDER || h->count > (size - sizeof *h) / sizeof h->phys[0])
        return fail("gen2", "the subtree's size", -EBADMSG);
    uint64_t stopped = h->stopped_ns, count = h->count, folio_bytes = 4096ULL << h->order;
    const uint64_t **values = malloc(count * sizeof *values);
    if (!values) return fail("gen2", "malloc", -ENOMEM);
    for (uint64_t f = 0; f < count; f++) {
        struct folio *folio = kho_restore_folio(h->phys[f]);
        if (!folio || kho_folio_order(folio) != h->order) return fail("gen2", "kho_restore_folio", -EBADMSG);
        values[f] = kho_folio_address(folio);
    }
    uint64_t serving = now_ns();
    /* Serving: every word checked once. */
    int same = 1;
    for (uint64_t f = 0; f < count && same; f++)
        for (uint64_t i = 0; i < folio_bytes / 8 && same; i++)
            same = values[f][i] == word(f, i);
    /* Still alive: the predecessor waits for this process before it exits (a service would exit once torn down). */
    int predecessor_alive = kill(getppid(), 0) == 0;
    printf("gen2: restored %llu folios (%llu MiB), every byte %s; predecessor %s\n", (unsigned long long)count,
           (unsigned long long)(count * folio_bytes >> 20), same ? "verified" : "WRONG",
           predecessor_alive ? "still running" : "gone");
    printf("gen2: booted at %.3f ms, serving at %.3f ms after stop-serving (the blackout)\n", ms(stopped, booted), ms(stopped, serving));
    fflush(stdout);
    free(values);
    kho_exit();
    return same ? 0 : 1;
}

static int generation1(const char *self, const char *region, unsigned long long mib, unsigned int order)
{
    uint64_t folio_bytes = 4096ULL << order, bytes = mib << 20;
    if (mib == 0 || bytes > MAX_BYTES || order > MAX_ORDER) { fprintf(stderr, "successor: MIB 1..16384, ORDER 0..9\n"); return 2; }
    uint64_t count = (bytes + folio_bytes - 1) / folio_bytes;
    /* Whole 2 MiB pages, so the region works on hugetlbfs too; room for the folios, the subtree and scratch. */
    uint64_t region_size = (count * folio_bytes * 5 / 4 + count * 16 + (32ULL << 20)) & ~((2ULL << 20) - 1);
    int err = kho_init(region, region_size);
    if (err) return fail("gen1", "kho_init", err);
    size_t hsize = sizeof(struct handover) + count * sizeof(phys_addr_t);
    struct handover *h = malloc(hsize);
    struct folio **folios = malloc(count * sizeof *folios);
    if (!h || !folios) return fail("gen1", "malloc", -ENOMEM);
    for (uint64_t f = 0; f < count; f++) {
        if (!(folios[f] = kho_folio_alloc(order))) return fail("gen1", "kho_folio_alloc", -ENOMEM);
        uint64_t *w = kho_folio_address(folios[f]);
        for (uint64_t i = 0; i < folio_bytes / 8; i++) w[i] = word(f, i);
        h->phys[f] = kho_folio_phys(folios[f]);
    }
    h->count = count;
    h->order = order;

    /* Start the successor while serving, and stop serving only once it is ready. */
    int ready[2];
    if (pipe(ready) != 0) return 1;
    pid_t next = fork();
    if (next == 0) {
        close(ready[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", ready[1]);
        execl("/proc/self/exe", self, "next", region, fd, (char *)NULL);
        _exit(127);
    }
    close(ready[1]);
    char r = 0;
    if (next < 0 || read(ready[0], &r, 1) != 1 || r != 'r') { fprintf(stderr, "successor gen1: generation 2 did not get ready\n"); return 1; }
    close(ready[0]);

    uint64_t stopped = now_ns();               /* the blackout starts */
    h->stopped_ns = stopped;
    for (uint64_t f = 0; f < count; f++)
        if ((err = kho_preserve_folio(folios[f]))) return fail("gen1", "kho_preserve_folio", err);
    if ((err = kho_add_subtree("successor", h, hsize))) return fail("gen1", "kho_add_subtree", err);
    if ((err = kho_finalize())) return fail("gen1", "kho_finalize", err);
    uint64_t finalized = now_ns();
    /* Finalized: the handover is the successor's. Preserving more is refused; nothing here writes the values again. */
    int busy = kho_preserve_folio(folios[0]);
    if ((err = kho_exit())) return fail("gen1", "kho_exit", err);   /* lets go first, then unmaps */
    uint64_t torn_down = now_ns();
    /* After kho_exit this process has no mapping of the region left to write through. */
    void *gone = kho_folio_address(folios[0]);
    printf("gen1: %llu MiB in %llu folios; finalized at %.3f ms, torn down at %.3f ms after stop-serving\n",
           (unsigned long long)(count * folio_bytes >> 20), (unsigned long long)count, ms(stopped, finalized), ms(stopped, torn_down));
    printf("gen1: after finalize preserving is %s; after kho_exit the folio's address is %s\n",
           busy == -EBUSY ? "-EBUSY" : "ALLOWED", gone == NULL ? "NULL" : "STILL MAPPED");
    fflush(stdout);
    int status = 0;
    waitpid(next, &status, 0);
    free(folios);
    free(h);
    return busy == -EBUSY && gone == NULL && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "next") == 0)
        return generation2(argv[2], atoi(argv[3]));
    if (argc >= 2 && argc <= 4)
        return generation1(argv[0], argv[1], argc >= 3 ? strtoull(argv[2], NULL, 10) : 8, argc == 4 ? (unsigned)atoi(argv[3]) : 9);
    fprintf(stderr, "usage: successor REGION [MIB [ORDER]]\n");
    return 2;
}
