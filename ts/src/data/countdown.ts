/** Countdown data: the solver (reference solutions, solvability) and the seeded task generator. */
export {
  solveCountdown,
  solveCountdownAll,
  solveCountdownSteps,
  type CountdownSolution,
  type SolveOptions,
} from "./countdown_solver.js";
export {
  generateCountdownTasks,
  type CountdownGenOptions,
  type GeneratedCountdownTask,
} from "./countdown_generator.js";
