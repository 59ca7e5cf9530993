# The sync agent's health check, as data: a daemon that stopped reporting (it refreshes its
# status every minute) is restarted, as a watchdog would. The check reads the state as the
# agent's own user (a root process must not create files there); the restart is root's, in a unit
# of its own. Builtins only: modules/sync-agent hands it to systemd.services/timers, and the
# tests render and verify it with the real systemd.
#
# Tied to the agent: the timer is wanted by the agent's unit, not by timers.target, and is part
# of it (systemd.unit(5) PartOf=: a stop or restart of the agent stops or restarts the timer), so
# an agent meant to stay stopped (before its keys exist, or stopped by an admin) is not checked;
# and the restart is `systemctl try-restart` (systemctl(1): "does nothing if units are not
# running"), so a failed check never starts an agent that was stopped in the meantime.
{
  unit,
  # The keystone and systemctl executables.
  keystone,
  systemctl,
  # DynamicUser=, User= and StateDirectory= of the agent's own units.
  agentUser,
}:
{
  services = {
    "${unit}-health" = {
      description = "Check that the Keystone sync agent still reports";
      unitConfig.OnFailure = "${unit}-restart.service";
      serviceConfig = agentUser // {
        Type = "oneshot";
        ProtectSystem = "strict";
        NoNewPrivileges = true;
        ExecStart = "${keystone} agent status --check --max-age 3m";
      };
    };
    "${unit}-restart" = {
      description = "Restart the Keystone sync agent after a failed health check";
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${systemctl} try-restart ${unit}.service";
      };
    };
  };

  timers."${unit}-health" = {
    description = "Check the Keystone sync agent every 5 minutes while it runs";
    wantedBy = [ "${unit}.service" ];
    partOf = [ "${unit}.service" ];
    timerConfig = {
      OnActiveSec = "5m";
      OnUnitActiveSec = "5m";
    };
  };
}
