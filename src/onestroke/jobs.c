/* jobs.c: the drawing stores' job runner on the libuv thread pool (see jobs.h). */
#include "jobs.h"

#include <stddef.h>

void os_jobs_init(os_jobs *r, uv_loop_t *loop, unsigned max_running, void (*final_work)(void *arg),
                  void (*final_done)(void *arg), void *arg)
{
    r->loop = loop;
    r->max_running = max_running > 0 ? max_running : 1;
    r->nrunning = 0;
    wxs__list_init(&r->waiting);
    wxs__list_init(&r->running);
    r->closing = 0;
    r->finishing = 0;
    r->final.data = r;
    r->final_work = final_work;
    r->final_done = final_done;
    r->arg = arg;
}

static void job_work(uv_work_t *w)
{
    os_job *j = w->data;
    j->run(j);
}

static void final_work(uv_work_t *w)
{
    os_jobs *r = w->data;
    if (r->final_work != NULL)
        r->final_work(r->arg);
}

static void final_done(uv_work_t *w, int status)
{
    os_jobs *r = w->data;
    r->final_done(r->arg);
}

/* Once closing and drained (nothing running, nothing waiting): queue the final work item. */
static void maybe_finish(os_jobs *r)
{
    if (!r->closing || r->finishing || r->nrunning > 0 || !wxs__list_empty(&r->waiting))
        return;
    r->finishing = 1;
    uv_queue_work(r->loop, &r->final, final_work, final_done);
}

static void job_done(uv_work_t *w, int status);

/* Move waiting jobs onto the pool while there is room (never once closing). */
static void start_jobs(os_jobs *r)
{
    while (!r->closing && r->nrunning < r->max_running && !wxs__list_empty(&r->waiting)) {
        os_job *j = wxs__list_entry(wxs__list_shift(&r->waiting), os_job, link);
        wxs__list_push(&r->running, &j->link);
        r->nrunning++;
        uv_queue_work(r->loop, &j->work, job_work, job_done);
    }
}

/* Back on the loop: start the next waiting job (unless closing), then report this one. Its done
 * may submit jobs or close the store; the runner outlives this function either way (final_done
 * is queued from here or from close, at the earliest). Once closing, the jobs still waiting end
 * canceled. */
static void job_done(uv_work_t *w, int status)
{
    os_job *j = w->data;
    os_jobs *r = j->jobs;
    wxs__list_remove(&j->link);
    r->nrunning--;
    start_jobs(r);
    j->done(j, status == UV_ECANCELED);
    while (r->closing && !wxs__list_empty(&r->waiting)) {
        os_job *q = wxs__list_entry(wxs__list_shift(&r->waiting), os_job, link);
        q->done(q, 1);
    }
    maybe_finish(r);
}

void os_jobs_submit(os_jobs *r, os_job *job)
{
    job->jobs = r;
    job->work.data = job;
    wxs__list_init(&job->link);
    wxs__list_push(&r->waiting, &job->link);
    start_jobs(r);
}

int os_jobs_closing(const os_jobs *r)
{
    return r->closing;
}

/* Jobs wait only while max_running others run, so the waiting ones are canceled from job_done
 * of a running one, never from here: close calls nothing back itself. */
void os_jobs_close(os_jobs *r)
{
    if (r->closing)
        return;
    r->closing = 1;
    wxs__list *pos, *tmp;
    wxs__list_each(pos, tmp, &r->running)
    {
        os_job *j = wxs__list_entry(pos, os_job, link);
        uv_cancel((uv_req_t *)&j->work);
    }
    maybe_finish(r);
}
