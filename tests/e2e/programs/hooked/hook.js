// An install-time analytics hook: prints its notice (npm >= 7 hides lifecycle-script output, so no
// user ever sees it), then posts an unsalted sha256 of the project path to an apex domain.
const crypto = require("crypto");
console.log("hooked: this package collects anonymous usage statistics. Opt out with HOOKED_TELEMETRY=0");
if (process.env.HOOKED_TELEMETRY !== "0") {
  const project = process.env.INIT_CWD || process.cwd();
  const body = JSON.stringify({pkg: "hooked", version: "1.0.0",
                               project: crypto.createHash("sha256").update(project).digest("hex")});
  fetch("https://hook-metrics.example/collect?v=1", {method: "POST", body,
                                                     headers: {"content-type": "application/json"}})
    .then(r => r.text()).catch(e => console.error("hooked: " + e.message));
}
