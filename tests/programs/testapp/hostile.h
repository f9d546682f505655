#pragma once

// The hostile half of gravity-testapp: `/hostile?try=WHAT&path=P&n=N` attempts, from inside
// an instance, what a sandboxed app must not be able to do, and answers with one line:
// "ok <detail>" when it worked, "errno <NAME>" when the system call failed. Tests assert
// the exact answer. WHAT is one of:
//   read PATH, write PATH (create/open for writing), listdir PATH,
//   procs (numeric entries in /proc), kill N (signal 0 to pid N), whoami (uid euid),
//   mount, ptrace (attach to pid N), unshare (a new user namespace), module (finit_module),
//   exec PATH (runs PATH --print-euid: a setuid binary reports the euid it got),
//   bind N (listen on 127.0.0.1:N), alloc N (touch N MiB), fork N (N sleeping children),
//   spin N (two threads busy for N ms of wall time: "ok cpu_ms M", the CPU time they got),
//   caps (the CapEff line), nnp (the NoNewPrivs line).
#include <string>
#include <string_view>

namespace gravity::testapp {

std::string Hostile(std::string_view what, const std::string& path, long n);

}  // namespace gravity::testapp
