/* A live update whose region is a memfd handed from one generation to the next over a unix socket (SCM_RIGHTS):
 * no file in /dev/shm, and the memory lives exactly as long as some process holds the fd.
 *   fdpass          makes a socketpair, starts generation 1 (this program again) and is generation 2
 *   fdpass gen1 FD  (started by the above) creates the memfd region, saves a counter, finalizes, exits the
 *                   region, then sends the memfd on socket FD and exits
 * Generation 2 boots on the fd it received, restores the counter and shows that the size is sealed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <kstate.h>

struct counter { uint64_t value; char note[16]; };

static const struct kstate_description counter_state = {
    .name = "fdpass/counter", .version_id = 1, .min_version_id = 1, .id = 0x66647061, /* "fdpa" */
    .fields = (const struct kstate_field[]) {
        KSTATE_BASE_TYPE(value, struct counter, uint64_t),
        KSTATE_BASE_TYPE(note, struct counter, char [16]),
        KSTATE_END_OF_LIST()
    },
};

static int fail(const char *who, const char *what, int err)
{
    fprintf(stderr, "fdpass %s: %s: %s (%s)\n", who, what, err < 0 ? kstate_strerror(err) : strerror(errno),
            err < 0 ? kstate_last_error() : "");
    return 1;
}

/* One fd as SCM_RIGHTS ancillary data, with one byte of ordinary data (a stream socket carries none alone). */
static int send_fd(int sock, int fd)
{
    char byte = 'K';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int receive_fd(int sock)
{
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1 || (msg.msg_flags & MSG_CTRUNC))
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

static int generation1(int sock)
{
    static struct counter counter = { .value = 41, .note = "from gen 1" };
    int memfd = memfd_create("kstate-fdpass", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0)
        return fail("gen1", "memfd_create", 0);
    int err = kho_init_fd(memfd, 4 << 20); /* empty: formatted, set to 0600, size sealed */
    if (err)
        return fail("gen1", "kho_init_fd", err);
    counter.value++;
    if ((err = kstate_register(&counter_state, &counter, 1)) || (err = kho_finalize()))
        return fail("gen1", "saving", err);
    if ((err = kho_exit())) /* before sending: the next generation cannot boot while this one has it booted */
        return fail("gen1", "kho_exit", err);
    if (send_fd(sock, memfd))
        return fail("gen1", "sendmsg", 0);
    printf("gen1: saved value=%llu, sent the memfd\n", (unsigned long long)counter.value);
    return 0; /* exiting closes our fd: the memory now lives in the socket, then in generation 2 */
}

static int generation2(int sock)
{
    struct counter counter = { 0 };
    int fd = receive_fd(sock);
    if (fd < 0)
        return fail("gen2", "recvmsg", 0);
    int err = kho_init_fd(fd, 0); /* 0: adopt the region as it is */
    if (err)
        return fail("gen2", "kho_init_fd", err);
    if (!is_kho_boot())
        return fail("gen2", "is_kho_boot", -ENOENT);
    if ((err = kstate_restore(&counter_state, &counter, 1)))
        return fail("gen2", "kstate_restore", err);
    int seals = fcntl(fd, F_GET_SEALS);
    int truncated = ftruncate(fd, 0);
    printf("gen2: restored value=%llu note=%s; seals shrink=%d grow=%d; ftruncate %s\n",
           (unsigned long long)counter.value, counter.note, !!(seals & F_SEAL_SHRINK), !!(seals & F_SEAL_GROW),
           truncated == 0 ? "succeeded" : errno == EPERM ? "refused (EPERM)" : strerror(errno));
    if ((err = kho_exit()))
        return fail("gen2", "kho_exit", err);
    close(fd);
    return counter.value == 42 && truncated != 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "gen1") == 0)
        return generation1(atoi(argv[2]));
    if (argc != 1) {
        fprintf(stderr, "usage: fdpass\n");
        return 2;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair))
        return fail("main", "socketpair", 0);
    pid_t pid = fork();
    if (pid < 0)
        return fail("main", "fork", 0);
    if (pid == 0) { /* generation 1: a fresh program, its socket end kept across exec */
        char fd[16];
        snprintf(fd, sizeof fd, "%d", pair[1]);
        fcntl(pair[1], F_SETFD, 0);
        execl("/proc/self/exe", argv[0], "gen1", fd, (char *)NULL);
        _exit(127);
    }
    close(pair[1]);
    int rc = generation2(pair[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fdpass: generation 1 failed\n");
        rc = 1;
    }
    return rc;
}
