/* The runner the scenario tests share: each scenario runs in a forked child on its own region, so a crash is
 * reported as that scenario's failure instead of ending the run. Include once, from the test's one source file. */
#ifndef KSTATE_TEST_SCENARIOS_H
#define KSTATE_TEST_SCENARIOS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kstate.h>

struct scenario {
    const char *name;
    void (*run)(void);
};

static char region[512];   /* the current scenario's region path */
static int fails;          /* failed CHECKs in the current scenario (its child) */

#define CHECK(cond) do { if (!(cond)) { fails++; \
    printf("  FAIL line %d: %s (last error: %s)\n", __LINE__, #cond, kstate_last_error()); } } while (0)

/* Runs every scenario, or only argv[2]'s, each in a child on REGION-N. With boot_size, the child boots a region
 * of that size before the scenario; with 0 the scenario boots itself. Prints "ok NAME" or "FAIL NAME" each, then
 * "N scenarios, N failed", and returns the number failed. */
static int run_scenarios(int argc, char **argv, const struct scenario *scenarios, size_t count, uint64_t boot_size)
{
    int failed = 0, ran = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s REGION [SCENARIO]\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < count; i++) {
        if (argc > 2 && strcmp(argv[2], scenarios[i].name) != 0)
            continue;
        ran++;
        snprintf(region, sizeof region, "%s-%zu", argv[1], i);
        unlink(region);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (boot_size != 0 && kho_init(region, boot_size) != 0) {
                printf("  kho_init: %s\n", kstate_last_error());
                _exit(1);
            }
            scenarios[i].run();
            kho_exit();
            fflush(stdout);
            _exit(fails != 0);
        }
        int status;
        waitpid(pid, &status, 0);
        unlink(region);
        if (WIFSIGNALED(status))
            printf("FAIL %s: killed by signal %d\n", scenarios[i].name, WTERMSIG(status));
        else if (WEXITSTATUS(status) != 0)
            printf("FAIL %s\n", scenarios[i].name);
        else
            printf("ok %s\n", scenarios[i].name);
        failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    printf("%d scenarios, %d failed\n", ran, failed);
    return failed;
}

#endif
