// bench/wakeup: what waking a sleeping thread costs on this machine. Two threads pass a turn back and forth
// through a futex (as a condition variable does), pinned first to one CPU, then to two. On two CPUs each wake
// lands on an idle CPU: on a virtual machine whose idle vCPUs halt (no guest halt polling), that wake goes
// through the hypervisor. The figure behind the store writer's spin before sleeping (kWriterSpin in
// src/store/sqlite/sqlite_store.cc). A benchmark, not a test.
//   build-bench/bench/wakeup/bench_wakeup [round trips, default 20000]
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

std::atomic<int> turn{0};

void wait_while(int value) {
  while (turn.load() == value)
    syscall(SYS_futex, reinterpret_cast<int*>(&turn), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
}
void pass_to(int value) {
  turn.store(value);
  syscall(SYS_futex, reinterpret_cast<int*>(&turn), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}
bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// Microseconds per round trip (two wakes) between a thread on cpu_a and one on cpu_b.
double round_trip_us(int cpu_a, int cpu_b, int n) {
  turn.store(0);
  std::thread other([&] {
    pin(cpu_b);
    for (int i = 0; i < n; ++i) {
      wait_while(2 * i);
      pass_to(2 * i + 2);
    }
  });
  pin(cpu_a);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    pass_to(2 * i + 1);
    wait_while(2 * i + 1);
  }
  const auto end = std::chrono::steady_clock::now();
  other.join();
  return std::chrono::duration<double, std::micro>(end - start).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  const unsigned cpus = std::thread::hardware_concurrency();
  std::printf("futex round trip, same CPU:      %7.2f us\n", round_trip_us(0, 0, n));
  if (cpus > 1) std::printf("futex round trip, two CPUs:      %7.2f us\n", round_trip_us(0, 1, n));
  return 0;
}
