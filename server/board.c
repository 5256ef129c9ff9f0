/* board.c - the shared-memory notice board of the supervisor and its workers. */
#include "board.h"

#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BOARD_BYTES sizeof(ph_board)

static ph_board_record *self;
static const ph_board *shared;

int ph_board_create(ph_board **board)
{
    int fd = memfd_create("plughost-board", 0); /* inherited by workers across exec */
    if (fd < 0 || ftruncate(fd, (off_t)BOARD_BYTES) < 0) {
        ph_log_error("cannot create the worker board: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    void *p = mmap(NULL, BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        ph_log_error("cannot map the worker board: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *board = p;
    return fd;
}

int ph_board_attach(int fd, int index)
{
    if (index < 0 || index >= PH_BOARD_RECORDS) {
        ph_log_error("board record %d out of range", index);
        return -1;
    }
    void *p = mmap(NULL, BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        ph_log_error("cannot map the worker board: %s", strerror(errno));
        return -1;
    }
    shared = p;
    self = &((ph_board *)p)->records[index];
    return 0;
}

ph_board_record *ph_board_self(void) { return self; }

const ph_board *ph_board_shared(void) { return shared; }

void ph_board_reset(ph_board_record *rec) { memset(rec, 0, sizeof *rec); }
