/**
 * Instructions that only change the image config (ENV ARG LABEL MAINTAINER EXPOSE USER VOLUME
 * STOPSIGNAL HEALTHCHECK SHELL CMD ENTRYPOINT ONBUILD): no layer, an `empty_layer` history entry
 * spelled as BuildKit spells it (ONBUILD gets none, as in BuildKit). Values are expanded in the
 * stage's scope before the instruction (all `$x` of one instruction see the values before it).
 */
import { TsbuildError } from '../../errors.js';
import type { Instruction } from '../../parser/instructions.js';
import { parsePortSpec, parseSignal } from '../../parser/values.js';
import { envMap } from '../args.js';
import type { StageExpander } from '../expand.js';
import { execHistory, goList, goSetMap, healthcheckHistory } from '../history-text.js';
import { at } from '../plan.js';
import type { BuildSession } from '../session.js';
import { addHistory, type StageState } from '../stage-state.js';

const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** Applies a metadata instruction; returns false when `ins` is not one (a filesystem step). */
export function applyMetadata(session: BuildSession, state: StageState, ins: Instruction, x: StageExpander): boolean {
  const cfg = state.config.config;
  const hist = (text: string) => addHistory(state, session, text, true);
  switch (ins.kind) {
    case 'env': {
      const pairs = ins.env.map((kv) => [x.word(state, kv.key, ins.location), x.word(state, kv.value, ins.location)] as const);
      const env = envMap(cfg.Env);
      for (const [k, v] of pairs) {
        if (k === '') throw new TsbuildError('INVALID', 'ENV names can not be blank', at(ins.location));
        env.set(k, v); // a re-set variable keeps its place, as Docker replaces it in place
      }
      cfg.Env = [...env].map(([k, v]) => `${k}=${v}`);
      hist(`ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      return true;
    }
    case 'arg': {
      const texts: string[] = [];
      for (const def of ins.args) {
        const dflt = def.value !== undefined ? x.word(state, def.value, ins.location) : undefined;
        const given = session.options.buildArgs?.[def.key];
        session.unusedBuildArgs.delete(def.key);
        const inherited = state.args.has(def.key) ? state.args.get(def.key) : session.globalArgs.get(def.key);
        state.args.declare(def.key, given ?? dflt ?? inherited);
        texts.push(dflt !== undefined ? `${def.key}=${dflt}` : def.key);
      }
      hist(`ARG ${texts.join(' ')}`);
      return true;
    }
    case 'label': {
      const pairs = ins.labels.map((kv) => [x.word(state, kv.key, ins.location), x.word(state, kv.value, ins.location)] as const);
      cfg.Labels = { ...(cfg.Labels ?? {}) };
      for (const [k, v] of pairs) {
        if (k === '') throw new TsbuildError('INVALID', 'LABEL names can not be blank', at(ins.location));
        cfg.Labels[k] = v;
      }
      hist(`LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      return true;
    }
    case 'maintainer':
      state.config.author = ins.maintainer;
      hist(`MAINTAINER ${ins.maintainer}`);
      return true;
    case 'expose': {
      const ports: string[] = [];
      for (const raw of ins.ports) {
        for (const word of x.words(state, raw, ins.location)) {
          let spec;
          try {
            spec = parsePortSpec(word);
          } catch (e) {
            throw new TsbuildError('INVALID', (e as Error).message, at(ins.location));
          }
          for (let p = spec.start; p <= spec.end; p++) ports.push(`${p}/${spec.protocol}`);
        }
      }
      cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of ports) cfg.ExposedPorts[p] = {};
      hist(`EXPOSE ${goSetMap(ports)}`);
      return true;
    }
    case 'user': {
      const user = x.word(state, ins.user, ins.location);
      cfg.User = user;
      hist(`USER ${user}`);
      return true;
    }
    case 'volume': {
      const vols = ins.volumes.map((v) => x.word(state, v, ins.location));
      cfg.Volumes = { ...(cfg.Volumes ?? {}) };
      for (const v of vols) {
        if (v.trim() === '') throw new TsbuildError('INVALID', 'VOLUME specified can not be an empty string', at(ins.location));
        cfg.Volumes[v] = {};
      }
      hist(`VOLUME ${goList(vols)}`);
      return true;
    }
    case 'stopsignal': {
      const sig = x.word(state, ins.signal, ins.location);
      try {
        parseSignal(sig);
      } catch (e) {
        throw new TsbuildError('INVALID', (e as Error).message, at(ins.location));
      }
      cfg.StopSignal = sig;
      hist(`STOPSIGNAL ${sig}`);
      return true;
    }
    case 'healthcheck': {
      const h =
        ins.test[0] === 'NONE'
          ? { Test: ['NONE'] }
          : {
              Test: ins.test,
              ...(ins.interval ? { Interval: ins.interval } : {}),
              ...(ins.timeout ? { Timeout: ins.timeout } : {}),
              ...(ins.startPeriod ? { StartPeriod: ins.startPeriod } : {}),
              ...(ins.startInterval ? { StartInterval: ins.startInterval } : {}),
              ...(ins.retries ? { Retries: ins.retries } : {}),
            };
      cfg.Healthcheck = h;
      hist(healthcheckHistory(h));
      return true;
    }
    case 'shell':
      cfg.Shell = [...ins.shell];
      hist(`SHELL ${goList(ins.shell)}`);
      return true;
    case 'cmd': {
      const argv = commandArgv(cfg.Shell, ins.form, ins.command);
      cfg.Cmd = argv;
      cfg.ArgsEscaped = true;
      state.cmdSet = true;
      hist(execHistory('CMD', argv));
      return true;
    }
    case 'entrypoint': {
      const argv = commandArgv(cfg.Shell, ins.form, ins.command);
      cfg.Entrypoint = argv;
      cfg.ArgsEscaped = true;
      if (!state.cmdSet) cfg.Cmd = null;
      hist(execHistory('ENTRYPOINT', argv));
      return true;
    }
    case 'onbuild':
      cfg.OnBuild = [...(cfg.OnBuild ?? []), ins.expression];
      return true;
    default:
      return false;
  }
}

/** Exec form as given; shell form wrapped in the stage's SHELL (default `/bin/sh -c`). */
export function commandArgv(shell: string[] | undefined, form: 'exec' | 'shell', command: readonly string[]): string[] {
  if (form === 'exec') return [...command];
  return [...(shell && shell.length ? shell : DEFAULT_SHELL), command.join(' ')];
}
