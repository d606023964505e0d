/* kho_exit and kho_init called from inside a call, by a callback (issue 18, item 3): refused with -EBUSY, and the
 * call around it goes on and succeeds. Each scenario (all, or the one named) runs in a forked child on its own region (REGION-scenario),
 * so a crash is reported, not fatal.  Usage: callbacks REGION [SCENARIO]   Exit code: the number of failed scenarios. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kstate.h>
#include "scenarios.h"

static int exit_rc, init_rc, calls;

/* What every callback does: try to end (and restart) the generation under the call that is running it. */
static void reenter(void)
{
    calls++;
    exit_rc = kho_exit();
    init_rc = kho_init(region, 0);
}

struct obj { int i; int custom; };

static int pre_save(void *o) { (void)o; reenter(); return 0; }
static int post_load(void *o, int v) { (void)o; (void)v; reenter(); return 0; }
static int plain_save(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    (void)f;
    return kstate_save_data(s, &((struct obj *)o)->custom, sizeof(int));
}
static int plain_restore(struct kstate_stream *s, void *o, const struct kstate_field *f)
{
    (void)f;
    return kstate_restore_data(s, &((struct obj *)o)->custom, sizeof(int));
}
static int reentering_save(struct kstate_stream *s, void *o, const struct kstate_field *f) { reenter(); return plain_save(s, o, f); }
static int reentering_restore(struct kstate_stream *s, void *o, const struct kstate_field *f) { reenter(); return plain_restore(s, o, f); }

#define DESC(var, hook_pre, hook_post, save, restore) \
    static const struct kstate_description var = { \
        .name = "callbacks/obj", .id = 0x8001, .version_id = 1, .min_version_id = 1, \
        .pre_save = hook_pre, .post_load = hook_post, \
        .fields = (const struct kstate_field[]) { \
            KSTATE_BASE_TYPE(i, struct obj, int), KSTATE_CUSTOM(custom, struct obj, save, restore), KSTATE_END_OF_LIST() \
        }, \
    }
DESC(plain, NULL, NULL, plain_save, plain_restore);
DESC(with_pre_save, pre_save, NULL, plain_save, plain_restore);
DESC(with_custom_save, NULL, NULL, reentering_save, plain_restore);
DESC(with_custom_restore, NULL, NULL, plain_save, reentering_restore);
DESC(with_post_load, NULL, post_load, plain_save, plain_restore);


/* After a refused re-entry, the generation must be the one that was running, intact. */
static void check_refused(int rc)
{
    CHECK(calls >= 1);
    CHECK(exit_rc == -EBUSY);
    CHECK(init_rc == -EBUSY);
    CHECK(rc == 0);
    struct folio *f = kho_folio_alloc(0);
    CHECK(f != NULL && kho_folio_address(f) != NULL);
    if (f)
        memset(kho_folio_address(f), 1, 4096);
}

static struct obj o = { 7, 99 };

static void save_pre_save(void) { check_refused(kstate_save_state(&with_pre_save, &o, 1)); }
static void finalize_pre_save(void)
{
    CHECK(kstate_register(&with_pre_save, &o, 1) == 0);
    check_refused(kho_finalize());
}
static void custom_save(void) { check_refused(kstate_save_state(&with_custom_save, &o, 1)); }

/* Saves o with the plain description and boots the next generation on the handover. */
static void handover(void)
{
    CHECK(kstate_save_state(&plain, &o, 1) == 0);
    CHECK(kho_finalize() == 0);
    CHECK(kho_exit() == 0);
    CHECK(kho_init(region, 0) == 0);
    CHECK(is_kho_boot());
}
static void custom_restore(void)
{
    struct obj r = { 0, 0 };
    handover();
    check_refused(kstate_restore(&with_custom_restore, &r, 1));
    CHECK(r.i == 7 && r.custom == 99);
}
static void post_load_restore(void)
{
    struct obj r = { 0, 0 };
    handover();
    check_refused(kstate_restore(&with_post_load, &r, 1));
    CHECK(r.i == 7 && r.custom == 99);
}
static void session_finalize_pre_save(void)
{
    struct kstate_session *s;
    CHECK(kstate_session_create("callbacks", &s) == 0);
    CHECK(kstate_session_save_state(s, &with_pre_save, &o, 1) == 0);
    check_refused(kho_finalize());
}

static const struct scenario scenarios[] = {
    { "pre_save-in-kstate_save_state", save_pre_save },
    { "pre_save-in-kho_finalize", finalize_pre_save },
    { "custom-save", custom_save },
    { "custom-restore", custom_restore },
    { "post_load", post_load_restore },
    { "session-pre_save-in-kho_finalize", session_finalize_pre_save },
};

int main(int argc, char **argv)
{
    return run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0], 8 << 20);
}
