#pragma once

// Everything tests/support offers, in one include.
#include "support/git_repo.h"        // GitRepo: git CLI in a temp dir
#include "support/http_client.h"     // HttpClient, HttpGet: blocking keep-alive HTTP/1.1, raw mode
#include "support/load_generator.h"  // LoadGenerator: steady keep-alive load, outcomes recorded
#include "support/net.h"             // FreePort, PortOpen
#include "support/raw_target.h"      // RawTarget: a scripted (hostile) HTTP target
#include "support/subprocess.h"      // Subprocess (RAII), RunCommand, RunOk
#include "support/temp_dir.h"        // TempDir (RAII)
#include "support/testapp.h"         // TestApp: a running gravity-testapp
#include "support/wait.h"            // WaitFor: bounded polling
