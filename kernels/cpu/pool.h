// The cpu kernels' thread pool: parallel_for(chunks, threads, body) runs body(0) .. body(chunks - 1) on the calling
// thread and up to threads - 1 workers (Note [Thread pool]).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// Note [Thread pool]
// ~~~~~~~~~~~~~~~~~~
// The cpu kernels split their work into chunks that threads claim, instead of OpenMP's fixed share per thread.  An
// OpenMP parallel region ends in a barrier that waits for every thread of the team, and a team member that another
// process has descheduled (one core of two kept busy) holds the barrier until the scheduler runs it again,
// milliseconds later: a 10 µs add then took 3 ms (300x), and the sweep's worst op 20x its clean time.  Here:
//   - The caller publishes a job (a function, its context, a chunk count) in a slot and starts on the chunks at once;
//     each worker that wakes claims chunks with one atomic increment, and the caller, once no chunk is left to
//     claim, waits only for chunks that a worker has already started.  A worker that has not woken claims nothing
//     and costs nothing: at worst the caller does all the work, the serial time.
//   - The chunks are dealt in contiguous runs, one per taking part thread (the caller's first), and each thread
//     claims from its own run before it takes from the others': the same thread then gets the same elements in
//     every call, as under OpenMP's static schedule, and they are still in its core's cache (claiming from one
//     shared counter instead moved a 64K-float add's halves between the cores' caches, and 2 threads were no faster
//     than 1).
//   - Chunk i always covers the same elements, whichever thread runs it, so a reduction that merges per-chunk
//     partial results in chunk order gives the same bits for a given thread count (the chunk count depends on the
//     thread count only).
//   - A worker that wakes after its job has ended must not touch the next job's fields: it takes a reference on the
//     slot it read (users), then checks that the slot is still the current job; the caller fills only a slot that is
//     not current and that no worker holds.  There are kSlots slots; if every other one is held (workers descheduled
//     in that window), the job runs on the caller alone.  No caller ever waits for a worker that has not started a
//     chunk.
//   - One job at a time: a kernel called while another Python thread's job runs, and a parallel_for nested in a
//     chunk, run on their own thread, serially.
//   - Workers spin for kSpin after their last job (a training step's next op follows within microseconds; a wake-up
//     from sleep costs tens of them), then sleep on a condition variable of their own; a caller wakes only the
//     workers its job can use (after set_num_threads(16) then (2), fourteen idle workers stay asleep), and never
//     waits for the wake-up.  A worker a job cannot use goes to sleep at once instead of spinning.  A worker that
//     finds itself on the core the last caller ran on yields instead of spinning: with a busy neighbour there are
//     more runnable threads than cores, and a spinning worker that shares the caller's core keeps the caller off it
//     for a whole time slice (softmax of (250, 256) then took 3.3x its idle time); always yielding, in turn, hands
//     a worker's share of the neighbour's core to the neighbour, and bandwidth-bound ops ran at the serial speed
//     (max of 1M floats 2.5-3x).  Measured on 2 cores with one kept busy, 2 threads: that softmax, add and max of 1M
//     floats, a 64K transposed add and a 1024^2 matmul took 1.5-1.9x their idle time (median of 7 repetitions);
//     under OpenMP the sweep's worst op took 20x.
//   - After fork() the child starts a fresh pool (its parent's workers do not exist there); the old one is leaked on
//     purpose, as its mutexes may have been held by threads that are gone.
//   - A chunk that throws: the first exception is rethrown on the caller once every started chunk has finished; the
//     chunks not yet started are skipped.
namespace ts {
namespace pool_detail {

using Fn = void (*)(void* ctx, int64_t chunk);

constexpr int kSlots = 4;
constexpr auto kSpin = std::chrono::microseconds(2000);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// The core this thread runs on (a vDSO call on Linux, tens of nanoseconds), or -1 where that is not known.
inline int this_cpu() {
#ifdef __linux__
    return sched_getcpu();
#else
    return -1;
#endif
}

constexpr int kMaxRuns = 64;  // more threads than this share runs

struct alignas(64) Run {
    std::atomic<int64_t> next{0};  // the next chunk of this run to claim
    int64_t end = 0;               // one past its last chunk
};

struct alignas(64) Slot {
    std::atomic<int> users{0};  // workers that hold this slot (they may read its fields)
    Run runs[kMaxRuns];  // runs[k] holds chunks [k * chunks / nruns, (k + 1) * chunks / nruns)
    alignas(64) std::atomic<int64_t> done{0};  // chunks finished
    Fn fn = nullptr;
    void* ctx = nullptr;
    int64_t chunks = 0;
    int nruns = 0;
    int helpers = 0;  // workers 0 .. helpers - 1 may take part
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::exception_ptr error;
};

struct Sleeper {  // one per worker: a caller wakes only the workers its job can use
    std::mutex mutex;
    std::condition_variable wake;
    std::atomic<bool> asleep{false};
};

struct State {
    Slot slots[kSlots];
    alignas(64) std::atomic<uint64_t> current{0};  // epoch << 8 | slot; epoch 0: no job yet
    alignas(64) std::atomic<bool> busy{false};     // a caller owns the pool
    uint64_t epoch = 0;                            // the caller's, under busy
    std::vector<std::unique_ptr<Sleeper>> sleepers;  // one per started worker, under busy
    std::atomic<int> caller_cpu{-1};  // the core the last job's caller ran on (-1: not known)
};

inline thread_local bool t_in_pool = false;  // a worker, or a caller inside its job: nested loops run serially

inline std::atomic<State*>& state_ref() {
    static std::atomic<State*> s{new State};
    return s;
}

inline void after_fork_in_child() { state_ref().store(new State, std::memory_order_relaxed); }

inline State* state() {
    static const bool registered = [] {
        pthread_atfork(nullptr, nullptr, after_fork_in_child);
        return true;
    }();
    (void)registered;
    return state_ref().load(std::memory_order_relaxed);
}

// Runs chunk i of ``slot`` (skipped once a chunk has thrown) and counts it done.
inline void run_chunk(Slot& slot, int64_t i) {
    if (!slot.failed.load(std::memory_order_relaxed)) {
        try {
            slot.fn(slot.ctx, i);
        } catch (...) {
            std::lock_guard<std::mutex> g(slot.error_mutex);
            if (!slot.error) slot.error = std::current_exception();
            slot.failed.store(true, std::memory_order_relaxed);
        }
    }
    slot.done.fetch_add(1, std::memory_order_release);
}

// Claims and runs chunks of ``slot`` until none is left: those of run ``me`` first, then the next runs' in turn.
inline void run_chunks(Slot& slot, int me) {
    const int nruns = slot.nruns;
    for (int r = 0; r < nruns; ++r) {
        Run& run = slot.runs[(me + r) % nruns];
        for (;;) {
            const int64_t i = run.next.fetch_add(1, std::memory_order_relaxed);
            if (i >= run.end) break;
            run_chunk(slot, i);
        }
    }
}

// The next value of s.current after ``last``: spin for kSpin (unless ``spin`` is false), then sleep until a caller
// that wants this worker wakes it.
inline uint64_t wait_for_job(State& s, uint64_t last, Sleeper& me, bool spin) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int k = 0; spin; ++k) {
        const uint64_t c = s.current.load(std::memory_order_acquire);
        if (c != last) return c;
        const int cpu = this_cpu();
        if (cpu >= 0 && cpu == s.caller_cpu.load(std::memory_order_relaxed))
            std::this_thread::yield();  // on the caller's core: spinning would only keep the caller off it
        else
            cpu_relax();
        if ((k & 15) == 15 && std::chrono::steady_clock::now() > until) break;
    }
    std::unique_lock<std::mutex> lock(me.mutex);
    me.asleep.store(true, std::memory_order_seq_cst);
    uint64_t c;
    while ((c = s.current.load(std::memory_order_seq_cst)) == last) me.wake.wait(lock);
    me.asleep.store(false, std::memory_order_relaxed);
    return c;
}

inline void worker_main(State* s, Sleeper* me, int id, uint64_t last) {
    t_in_pool = true;
#ifdef __linux__
    {
        char name[16];
        std::snprintf(name, sizeof name, "ts-cpu-%d", id);  // what top -H and /proc/<pid>/task/*/comm show
        pthread_setname_np(pthread_self(), name);
    }
#endif
    bool spin = true;
    for (;;) {
        const uint64_t c = wait_for_job(*s, last, *me, spin);
        last = c;
        Slot& slot = s->slots[c & 0xff];
        slot.users.fetch_add(1, std::memory_order_seq_cst);
        // still the current job: its fields are the ones published with c, and stay so while we hold the slot
        if (s->current.load(std::memory_order_seq_cst) == c) {
            // a worker the job has no use for (fewer threads than before) sleeps at once: spinning, it would take
            // the cores from those that work
            spin = id < slot.helpers;
            if (spin) run_chunks(slot, id + 1);
        } else {
            spin = true;  // a newer job is there already
        }
        slot.users.fetch_sub(1, std::memory_order_release);
    }
}

// Starts workers until there are ``want`` (fewer if the system refuses threads); how many of them a job may use.
inline int grow(State& s, int want) {
    while (static_cast<int>(s.sleepers.size()) < want) {
        try {
            s.sleepers.push_back(std::make_unique<Sleeper>());  // first: the thread gets a Sleeper that stays
        } catch (const std::exception&) {
            break;  // no memory: fewer helpers
        }
        try {
            std::thread(worker_main, &s, s.sleepers.back().get(), static_cast<int>(s.sleepers.size()) - 1,
                        s.current.load(std::memory_order_relaxed)).detach();
        } catch (const std::exception&) {
            s.sleepers.pop_back();
            break;  // no more threads: fewer helpers
        }
    }
    return std::min(want, static_cast<int>(s.sleepers.size()));  // earlier, larger thread counts started more
}

template <class Body>
void call(void* ctx, int64_t chunk) {
    (*static_cast<Body*>(ctx))(chunk);
}

}  // namespace pool_detail

// body(i) for i in [0, chunks), on the calling thread and up to threads - 1 workers of the pool; returns when every
// call has returned (Note [Thread pool]).  body must be safe to call concurrently for different i.
template <class Body>
void parallel_for(int64_t chunks, int threads, Body&& body) {
    using namespace pool_detail;
    if (chunks <= 0) return;
    auto serial = [&] {
        for (int64_t i = 0; i < chunks; ++i) body(i);
    };
    if (threads <= 1 || chunks == 1 || t_in_pool) return serial();
    State& s = *state();
    bool expected = false;
    if (!s.busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) return serial();
    struct Release {
        State& s;
        ~Release() { s.busy.store(false, std::memory_order_release); }
    } release{s};
    const int helpers = static_cast<int>(std::min<int64_t>(grow(s, threads - 1), chunks - 1));
    // a slot that is neither the current job's (late workers may still claim from it) nor held by a worker
    const uint64_t cur = s.current.load(std::memory_order_relaxed);
    const int held = static_cast<int>(cur & 0xff);
    int pick = -1;
    for (int k = 1; k <= kSlots && pick < 0; ++k) {
        const int j = (held + k) % kSlots;
        if ((cur == 0 || j != held) && s.slots[j].users.load(std::memory_order_acquire) == 0) pick = j;
    }
    if (helpers <= 0 || pick < 0) return serial();
    using B = typename std::remove_reference<Body>::type;
    Slot& slot = s.slots[pick];
    slot.fn = &call<B>;
    slot.ctx = const_cast<void*>(static_cast<const void*>(&body));
    slot.chunks = chunks;
    slot.helpers = helpers;
    slot.nruns = static_cast<int>(std::min<int64_t>(helpers + 1, kMaxRuns));
    for (int k = 0; k < slot.nruns; ++k) {
        slot.runs[k].next.store(k * chunks / slot.nruns, std::memory_order_relaxed);
        slot.runs[k].end = (k + 1) * chunks / slot.nruns;
    }
    slot.failed.store(false, std::memory_order_relaxed);
    slot.error = nullptr;
    slot.done.store(0, std::memory_order_relaxed);
    s.caller_cpu.store(this_cpu(), std::memory_order_relaxed);
    const uint64_t c = (++s.epoch << 8) | static_cast<uint64_t>(pick);
    s.current.store(c, std::memory_order_seq_cst);
    for (int k = 0; k < helpers; ++k) {  // wake the helpers that sleep (never waited for)
        Sleeper& z = *s.sleepers[k];
        if (z.asleep.load(std::memory_order_seq_cst)) {
            { std::lock_guard<std::mutex> g(z.mutex); }
            z.wake.notify_one();
        }
    }
    t_in_pool = true;
    run_chunks(slot, 0);
    t_in_pool = false;
    // every chunk is claimed; wait for the ones workers are running
    for (int spin = 0; slot.done.load(std::memory_order_acquire) < chunks; ++spin) {
        if (spin < 64) cpu_relax();
        else std::this_thread::yield();
    }
    if (slot.error) std::rethrow_exception(slot.error);
}

// body(begin, end) over [0, n) in at most ``pieces`` contiguous pieces of nearly equal size, on up to ``threads``
// threads.  The pieces depend on n and ``pieces`` only.
template <class Body>
void parallel_pieces(int64_t n, int threads, int64_t pieces, Body&& body) {
    if (n <= 0) return;
    if (threads <= 1) return body(int64_t(0), n);
    pieces = std::max<int64_t>(1, std::min(pieces, n));
    const int64_t size = (n + pieces - 1) / pieces;
    pieces = (n + size - 1) / size;
    parallel_for(pieces, threads, [&](int64_t p) { body(p * size, std::min(n, (p + 1) * size)); });
}

}  // namespace ts
