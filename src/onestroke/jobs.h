/* jobs.h: the job runner of the drawing stores: their work on the libuv thread pool. Jobs wait in
 * a FIFO on the loop thread and run at most max_running at a time; closing cancels the jobs that
 * have not started, and once the runner is drained one final work item (closing connections,
 * which may block) runs on the pool before the owner is told it may free itself. */
#ifndef ONESTROKE_JOBS_H
#define ONESTROKE_JOBS_H

#include "list.h"

#include <uv.h>

typedef struct os_jobs os_jobs;
typedef struct os_job os_job;

/* One job, embedded in the store's own job struct. The store sets run and done. */
struct os_job {
    wxs__list link; /* the runner's: in waiting or running */
    uv_work_t work; /* the runner's */
    os_jobs *jobs;  /* the runner's */
    /** On a pool thread: the work itself. */
    void (*run)(os_job *job);
    /** On the loop thread, exactly once: report the result and free the job. canceled != 0 when
     *  run never ran (the runner closed before a pool thread took the job). */
    void (*done)(os_job *job, int canceled);
};

/* The runner, embedded in the store. Fields are the runner's own. */
struct os_jobs {
    uv_loop_t *loop;
    unsigned max_running;
    unsigned nrunning;
    wxs__list waiting;
    wxs__list running;
    int closing;
    int finishing;
    uv_work_t final;
    void (*final_work)(void *arg);
    void (*final_done)(void *arg);
    void *arg;
};

/** Set up a runner on loop. After os_jobs_close() and once every job is done, final_work(arg)
 *  runs on a pool thread, then final_done(arg) on the loop thread: the runner's last act, after
 *  which the owner may free it. final_work may be NULL. */
void os_jobs_init(os_jobs *r, uv_loop_t *loop, unsigned max_running, void (*final_work)(void *arg),
                  void (*final_done)(void *arg), void *arg);

/** Queue job (run and done set) behind the jobs already waiting and start what may start. Loop
 *  thread, never after os_jobs_close(). job->done runs exactly once, never before this returns. */
void os_jobs_submit(os_jobs *r, os_job *job);

/** 1 once os_jobs_close() was called. */
int os_jobs_closing(const os_jobs *r);

/** Start closing: jobs not yet on a pool thread end with done(job, 1); running ones finish with
 *  their real result. Calls nothing before returning; a second call is a no-op. */
void os_jobs_close(os_jobs *r);

#endif /* ONESTROKE_JOBS_H */
