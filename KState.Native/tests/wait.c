/* kho_init_wait across real processes: a predecessor (forked child A) boots a region, preserves a folio of 0x5A
 * bytes named by the "wait-test" subtree and then does what the parent says; a successor (forked child B) waits for
 * the region. The parent never calls the library itself (a forked child could not use its runtime).
 * Usage: wait REGION SCENARIO   (handover | cold | timeout)   Prints "ok SCENARIO"; exit code 0 ok.
 *   handover: B, started before A finalizes, waits, then restores the folio while A is still alive after kho_exit.
 *   cold:     A exits its region without finalizing: B boots cold.
 *   timeout:  B's wait runs out while A holds the region: -ETIMEDOUT, the region's bytes unchanged; A can still
 *             finalize and a later kho_init boots on its handover. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kstate.h>

#define SIZE (4 << 20)
#define LONG_MS 60000

static const char *region;
static int fails;
static pid_t predecessor;

#define CHECK(cond) do { if (!(cond)) { fails++; \
    printf("  FAIL line %d: %s (last error: %s)\n", __LINE__, #cond, kstate_last_error()); fflush(stdout); } } while (0)

static char get(int fd) { char c = 0; return read(fd, &c, 1) == 1 ? c : 0; }
static void put(int fd, char c) { if (write(fd, &c, 1) != 1) _exit(9); }

/* Child A: boots, preserves, says 'b'; on 'f' finalizes, on 'x' does not; exits its region, says 'l'; stays alive
 * until its command pipe closes. */
static void run_predecessor(int commands, int replies)
{
    CHECK(kho_init(region, SIZE) == 0);
    struct folio *folio = kho_folio_alloc(0);
    CHECK(folio != NULL);
    memset(kho_folio_address(folio), 0x5A, 4096);
    CHECK(kho_preserve_folio(folio) == 0);
    phys_addr_t phys = kho_folio_phys(folio);
    CHECK(kho_add_subtree("wait-test", &phys, sizeof phys) == 0);
    put(replies, 'b');
    if (get(commands) == 'f')
        CHECK(kho_finalize() == 0);
    CHECK(kho_exit() == 0);
    put(replies, 'l');
    while (get(commands) != 0) { }
    fflush(stdout);
    _exit(fails != 0);
}

/* Child B: after a one-try wait that must time out (A holds the region), says 'w' and waits for the region. */
static void run_successor(int replies, int expect_handover)
{
    CHECK(kho_init_wait(region, 0, 0) == -ETIMEDOUT);
    put(replies, 'w');
    CHECK(kho_init_wait(region, 0, LONG_MS) == 0);
    const void *blob = NULL;
    size_t size = 0;
    if (expect_handover) {
        CHECK(is_kho_boot());
        CHECK(kho_retrieve_subtree("wait-test", &blob, &size) == 0 && size == sizeof(phys_addr_t));
        if (blob != NULL) {
            phys_addr_t phys;
            memcpy(&phys, blob, sizeof phys);
            struct folio *folio = kho_restore_folio(phys);
            CHECK(folio != NULL);
            const unsigned char *bytes = folio ? kho_folio_address(folio) : NULL;
            int same = bytes != NULL;
            for (int i = 0; same && i < 4096; i++)
                same = bytes[i] == 0x5A;
            CHECK(same);
        }
        /* A blocks on its command pipe until the parent has reaped this process: it must still be running. */
        CHECK(kill(predecessor, 0) == 0);
        printf("  successor: restored the handover while the predecessor (pid %d) still runs\n", (int)predecessor);
    } else {
        CHECK(!is_kho_boot());
        CHECK(kho_retrieve_subtree("wait-test", &blob, &size) == -ENOENT);
        printf("  successor: cold boot\n");
    }
    CHECK(kho_exit() == 0);
    fflush(stdout);
    _exit(fails != 0);
}

/* The region file's bytes (read(2) takes no lock); NULL on failure. */
static unsigned char *slurp(size_t *size)
{
    int fd = open(region, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return NULL;
    unsigned char *bytes = malloc((size_t)st.st_size);
    size_t done = 0;
    while (bytes != NULL && done < (size_t)st.st_size) {
        ssize_t n = pread(fd, bytes + done, (size_t)st.st_size - done, (off_t)done);
        if (n <= 0) { free(bytes); bytes = NULL; }
        else done += (size_t)n;
    }
    close(fd);
    *size = done;
    return bytes;
}

/* Child C of "timeout": B's wait runs out; the region is untouched. */
static void run_timed_out(void)
{
    size_t before_size = 0, after_size = 0;
    unsigned char *before = slurp(&before_size);
    CHECK(before != NULL);
    CHECK(kho_init_wait(region, 0, 200) == -ETIMEDOUT);
    CHECK(strstr(kstate_last_error(), "another process") != NULL);
    unsigned char *after = slurp(&after_size);
    CHECK(after != NULL && before != NULL && after_size == before_size && memcmp(before, after, before_size) == 0);
    printf("  waiter: -ETIMEDOUT (%s), region unchanged\n", kstate_strerror(-ETIMEDOUT));
    fflush(stdout);
    _exit(fails != 0);
}

/* A later generation after the timeout: A's handover is intact. */
static void run_later(void)
{
    CHECK(kho_init(region, 0) == 0);
    CHECK(is_kho_boot());
    CHECK(kho_exit() == 0);
    fflush(stdout);
    _exit(fails != 0);
}

static int reap(pid_t pid, const char *who)
{
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    printf("  %s failed (status 0x%x)\n", who, status);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s REGION handover|cold|timeout\n", argv[0]);
        return 2;
    }
    region = argv[1];
    const char *scenario = argv[2];
    int handover = strcmp(scenario, "handover") == 0, cold = strcmp(scenario, "cold") == 0;
    if (!handover && !cold && strcmp(scenario, "timeout") != 0) {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 2;
    }
    unlink(region);
    int commands[2], replies[2], waiting[2];
    if (pipe(commands) != 0 || pipe(replies) != 0 || pipe(waiting) != 0) return 2;
    fflush(stdout);
    predecessor = fork();
    if (predecessor == 0) {
        close(commands[1]);
        run_predecessor(commands[0], replies[1]);
    }
    close(commands[0]);
    int failed = 0;
    if (get(replies[0]) != 'b') {
        printf("  the predecessor did not boot\n");
        close(commands[1]);
        reap(predecessor, "predecessor");
        unlink(region);
        return 1;
    }
    if (handover || cold) {
        pid_t successor = fork();
        if (successor == 0)
            run_successor(waiting[1], handover);
        if (get(waiting[0]) != 'w') failed++;
        put(commands[1], handover ? 'f' : 'x');  /* the successor is waiting (or about to) */
        if (get(replies[0]) != 'l') failed++;
        failed += reap(successor, "successor");   /* before the predecessor may end */
    } else {
        pid_t waiter = fork();
        if (waiter == 0)
            run_timed_out();
        failed += reap(waiter, "waiter");
        put(commands[1], 'f');
        if (get(replies[0]) != 'l') failed++;
        pid_t later = fork();
        if (later == 0)
            run_later();
        failed += reap(later, "later generation");
    }
    close(commands[1]);
    failed += reap(predecessor, "predecessor");
    unlink(region);
    if (failed == 0) printf("ok %s\n", scenario);
    else printf("FAIL %s\n", scenario);
    return failed != 0;
}
