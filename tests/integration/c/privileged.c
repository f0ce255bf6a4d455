/* fanotify_init and open_by_handle_at, which need privileges (CAP_SYS_ADMIN,
   CAP_DAC_READ_SEARCH): exits 77 when the kernel refuses them here. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "check.h"

#define EXIT_UNPRIVILEGED 77

static void require_privilege(int result) {
    if (result < 0 && (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP)) exit(EXIT_UNPRIVILEGED);
    CHECK(result >= 0);
}

int main(void) {
    int fd;

    fd = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY); /* LEAK: fanotify_init */
    require_privilege(fd);
    fd = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY); /* CLOSED: fanotify_init */
    CHECK(fd >= 0 && close(fd) == 0);

    struct {
        struct file_handle handle;
        char space[MAX_HANDLE_SZ];
    } h = {.handle.handle_bytes = MAX_HANDLE_SZ};
    int mount_id;
    require_privilege(name_to_handle_at(AT_FDCWD, "/etc/hostname", &h.handle, &mount_id, 0));
    int mount = open("/etc", O_RDONLY | O_DIRECTORY); /* CLOSED: mount */
    CHECK(mount >= 0);
    fd = open_by_handle_at(mount, &h.handle, O_RDONLY); /* LEAK: open_by_handle_at */
    require_privilege(fd);
    fd = open_by_handle_at(mount, &h.handle, O_RDONLY); /* CLOSED: open_by_handle_at */
    CHECK(fd >= 0 && close(fd) == 0 && close(mount) == 0);

    return EXIT_EXPECTED;
}
