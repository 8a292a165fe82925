# Sourced by the GPU host's stage scripts (pipeline-7b.sh, issue13-followup.sh): one command per stage,
# measured by measure.py (wall, peak RSS, peak GPU memory), its record appended to $stages.
#   stage NAME COMMAND...   stdout -> $out/NAME.json, stderr (and measure.py's record) -> $out/NAME.log
#   done_stage NAME         true when $stages holds NAME with exit 0
# The caller sets: out (folder), stages (its stages.jsonl), started (epoch seconds), here (tooling/gpu).
# Read by stage: DEADLINE_S (no stage starts after it, default 540), STAGES (only the stages named run),
# STAGE_LIMIT_S (the command is stopped after that many seconds: SIGINT, which the CLI answers by
# cleaning up, then SIGKILL 10 s later; unset: no limit), STAGE_TAIL (lines of the log shown after the
# stage, default 3).
# A stage recorded with exit 0 is skipped: a run cut short by a device call's limit resumes in the next.

done_stage() { grep -q "\"stage\": \"$1\", .*\"exit\": 0" "$stages"; }

stage() {
  local name=$1; shift
  if done_stage "$name"; then echo "[stage] $name: done before"; return 0; fi
  if [ -n "${STAGES:-}" ] && [[ " $STAGES " != *" $name "* ]]; then return 0; fi
  if [ $(( $(date +%s) - started )) -gt "${DEADLINE_S:-540}" ]; then echo "[stage] $name: not started (deadline)"; return 1; fi
  local limit=()
  [ -n "${STAGE_LIMIT_S:-}" ] && limit=(timeout --signal=INT --kill-after=10 "$STAGE_LIMIT_S")
  echo "[stage] $name $(date +%T)${STAGE_LIMIT_S:+ (limit ${STAGE_LIMIT_S} s)}"
  python3 "$here/measure.py" "$name" "$stages" -- ${limit[@]+"${limit[@]}"} "$@" >"$out/$name.json" 2>"$out/$name.log"
  local code=$?
  tail -n "${STAGE_TAIL:-3}" "$out/$name.log"
  return $code
}
