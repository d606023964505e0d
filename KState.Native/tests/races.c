/* kho_exit racing other threads' calls (issue 18, items 1 and 2). Each scenario runs in a forked child: one thread
 * loops calls, another loops kho_exit(); kho_init(region, 0). Every call must either work or fail cleanly (0/NULL
 * or -errno) and kho_exit must never unmap under a call in flight; a child killed by a signal is a failure that
 * the parent reports. Usage: races REGION SCENARIO   (translate | alloc | save)   Exit code: 0 ok. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kstate.h>

#define CYCLES 400                  /* kho_exit/kho_init pairs per scenario */
#define BIG (1 << 20)

static const char *region;
static atomic_int done, bad;
static phys_addr_t known_phys;      /* a folio of the first generation (phys is stable across generations) */

struct big { char bytes[BIG]; };
static const struct kstate_description big_state = {
    .name = "races/big", .id = 0x7001, .version_id = 1, .min_version_id = 1,
    .fields = (const struct kstate_field[]) { KSTATE_BASE_TYPE(bytes, struct big, char [BIG]), KSTATE_END_OF_LIST() },
};
static struct big *big_obj;

static void note_bad(const char *what, long got)
{
    if (atomic_fetch_add(&bad, 1) < 5)
        fprintf(stderr, "%s gave %ld (%s)\n", what, got, kstate_last_error());
}

/* Errors a call may give when the region is gone or comes back mid-loop. */
static int clean(int rc) { return rc == 0 || rc == -EINVAL || rc == -EBUSY || rc == -ENOMEM || rc == -ENOSPC; }

static void *translate_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        void *v = kho_phys_to_virt(known_phys);
        phys_addr_t p = kho_virt_to_phys(v);
        if (v != NULL && p != 0 && p != known_phys)
            note_bad("kho_virt_to_phys(kho_phys_to_virt(phys))", (long)p);
        (void)kho_folio_address((struct folio *)(uintptr_t)known_phys);
        (void)kho_restore_folio(known_phys);
        (void)kho_restore_phys(known_phys, 4096);
        (void)is_kho_boot();
    }
    return NULL;
}

static void *alloc_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        struct folio *f = kho_folio_alloc(9);   /* zeroed inside the call: 2 MiB of memset the exit must not cut */
        if (f)
            kho_folio_put(f);
    }
    return NULL;
}

static void *save_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&done)) {
        int rc = kstate_save_state(&big_state, big_obj, 1);
        if (!clean(rc))
            note_bad("kstate_save_state of 1 MiB", rc);
        struct folio *f = kho_folio_alloc(0);
        if (f)
            kho_folio_put(f);
    }
    return NULL;
}

static int scenario(void *(*loop)(void *))
{
    pthread_t t;
    if (kho_init(region, 32 << 20) != 0) {
        fprintf(stderr, "kho_init: %s\n", kstate_last_error());
        return 1;
    }
    struct folio *f = kho_folio_alloc(0);
    known_phys = kho_folio_phys(f);
    pthread_create(&t, NULL, loop, NULL);
    for (int i = 0; i < CYCLES; i++) {
        int rc = kho_exit();
        if (rc != 0)
            note_bad("kho_exit", rc);
        rc = kho_init(region, 0);
        if (rc != 0)
            note_bad("kho_init", rc);
    }
    atomic_store(&done, 1);
    pthread_join(t, NULL);
    kho_exit();
    return atomic_load(&bad) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: races REGION translate|alloc|save\n");
        return 2;
    }
    region = argv[1];
    void *(*loop)(void *) = strcmp(argv[2], "translate") == 0 ? translate_loop
                          : strcmp(argv[2], "alloc") == 0 ? alloc_loop
                          : strcmp(argv[2], "save") == 0 ? save_loop : NULL;
    if (!loop) {
        fprintf(stderr, "unknown scenario %s\n", argv[2]);
        return 2;
    }
    big_obj = calloc(1, sizeof *big_obj);
    memset(big_obj->bytes, 0x5a, BIG);
    pid_t pid = fork();
    if (pid == 0)
        _exit(scenario(loop));
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        printf("FAIL %s: the child was killed by signal %d\n", argv[2], WTERMSIG(status));
        return 1;
    }
    printf("%s: %s\n", argv[2], WEXITSTATUS(status) == 0 ? "ok" : "FAIL (a call gave an unclean result)");
    return WEXITSTATUS(status);
}
