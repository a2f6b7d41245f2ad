// How `vsr_flow run` takes part in a data-parallel job (runtime/dist/collective.h):
//   - `--nproc N` makes this process a launcher: N copies of the same command line run as ranks
//     0 .. N-1 on this machine, with the variables torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE,
//     LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, a free MASTER_PORT); it waits for them, forwards
//     SIGINT/SIGTERM, and when one fails stops the others and says which rank failed how.
//   - A process started with those variables (by the launcher, torchrun, srun or by hand) is one
//     rank: prepare_distributed_doc sets its stages' params; on ranks other than 0,
//     drop_rank0_stages removes the stages that write (validation, checkpoints, TensorBoard,
//     progress), so rank 0 alone writes and prints.
#pragma once

#include <string>
#include <vector>

#include "graph/spec.h"
#include "runtime/dist/collective.h"

namespace vsr {

// Sets sample.{rank, world_size} and train_step.distributed.{rank, world_size, local_rank,
// local_world_size, master_addr, master_port} of a training doc; a world of 1 leaves the doc
// alone. Throws UsageError for a doc that is not a training spec.
void prepare_distributed_doc(json& doc, const DistributedOptions& dist,
                             std::vector<std::string>& notes);

// Ranks > 0: removes validate, image_writer, checkpoint, tensorboard and progress and their
// edges from the checked spec.
void drop_rank0_stages(Spec& spec);

// Runs `args` (argv[0] and the rest, without --nproc) as `nproc` local ranks and returns the
// exit status of the job: 0 when all ranks succeed, else the first failing rank's.
int launch_local_ranks(int nproc, const std::vector<std::string>& args);

}  // namespace vsr
