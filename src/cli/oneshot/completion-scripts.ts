/**
 * `bucket completion bash|zsh|fish`: scripts that complete verbs, their
 * options, local paths, and remote bucket and key names. Remote names come
 * from `bucket __complete WORD` (the same program, with the server options
 * on the command line so far), which answers within two seconds or says
 * nothing: offline, completion just offers no remote names.
 */

export interface VerbSpec {
  name: string;
  options: string[];
  /** What its arguments are: remote paths, local paths, both, or a fixed list. */
  args: 'remote' | 'local-then-remote' | 'remote-then-local' | 'local-or-remote' | 'none' | string[];
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

// Options that take a value, and are passed on to `bucket __complete` to reach the same server.
const SERVER_VALUE_OPTIONS = ['--server', '--profile', '--host', '--port', '--user', '--ca'];
const SERVER_FLAG_OPTIONS = ['--tls', '--insecure'];

export function completionScript(shell: Shell, verbs: readonly VerbSpec[], globalOptions: readonly string[]): string {
  switch (shell) {
    case 'bash':
      return bashScript(verbs, globalOptions);
    case 'zsh':
      // zsh runs the bash function through its bash-completion layer.
      return `#compdef bucket\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${bashScript(verbs, globalOptions)}`;
    case 'fish':
      return fishScript(verbs, globalOptions);
  }
}

function argsKind(spec: VerbSpec): string {
  return Array.isArray(spec.args) ? `words:${spec.args.join(' ')}` : spec.args;
}

function bashScript(verbs: readonly VerbSpec[], globalOptions: readonly string[]): string {
  const optionCases = verbs.map((verb) => `    ${verb.name}) opts="${verb.options.join(' ')}" ;;`).join('\n');
  const argCases = verbs.map((verb) => `    ${verb.name}) kind="${argsKind(verb)}" ;;`).join('\n');
  return `# bash completion for bucket: source <(bucket completion bash)
_bucket_remote() {
  local line
  while IFS= read -r line; do
    [[ -n $line ]] && COMPREPLY+=("$(printf '%q' "$line")")
  done < <("$1" "\${@:3}" __complete "$2" 2>/dev/null)
}
_bucket_local() {
  local line
  while IFS= read -r line; do
    if [[ -d $line ]]; then COMPREPLY+=("$(printf '%q' "$line")/"); else COMPREPLY+=("$(printf '%q' "$line")"); fi
  done < <(compgen -f -- "$1")
}
_bucket() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" verb="" kind="" opts="" i w
  local -a server=()
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${SERVER_VALUE_OPTIONS.join('|')}) server+=("$w" "\${COMP_WORDS[i+1]}"); ((i++)) ;;
      ${SERVER_FLAG_OPTIONS.join('|')}) server+=("$w") ;;
      -*) ;;
      *) [[ -z $verb ]] && verb="$w" ;;
    esac
  done
  if [[ -z $verb ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "${globalOptions.join(' ')}" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "${verbs.map((verb) => verb.name).join(' ')}" -- "$cur"))
    fi
    return 0
  fi
  case "$verb" in
${optionCases}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts ${globalOptions.join(' ')}" -- "$cur"))
    return 0
  fi
  case "$verb" in
${argCases}
  esac
  compopt -o nospace 2>/dev/null
  case "$kind" in
    remote) _bucket_remote "\${COMP_WORDS[0]}" "$cur" "\${server[@]}" ;;
    local-then-remote|local-or-remote) _bucket_local "$cur"; _bucket_remote "\${COMP_WORDS[0]}" "$cur" "\${server[@]}" ;;
    remote-then-local) _bucket_remote "\${COMP_WORDS[0]}" "$cur" "\${server[@]}"; _bucket_local "$cur" ;;
    words:*) compopt +o nospace 2>/dev/null; COMPREPLY=($(compgen -W "\${kind#words:}" -- "$cur")); return 0 ;;
  esac
  # A lone candidate that is not a folder or a prefix ends the word.
  if [[ \${#COMPREPLY[@]} -eq 1 && \${COMPREPLY[0]} != */ ]]; then COMPREPLY[0]+=" "; fi
  return 0
}
complete -F _bucket bucket
`;
}

function fishScript(verbs: readonly VerbSpec[], globalOptions: readonly string[]): string {
  const lines = ['# fish completion for bucket: bucket completion fish | source', 'complete -c bucket -e', 'complete -c bucket -f'];
  const names = verbs.map((verb) => verb.name).join(' ');
  for (const verb of verbs) lines.push(`complete -c bucket -n "not __fish_seen_subcommand_from ${names}" -a ${verb.name}`);
  for (const option of globalOptions) lines.push(`complete -c bucket ${fishFlag(option)}`);
  for (const verb of verbs) {
    const when = `-n "__fish_seen_subcommand_from ${verb.name}"`;
    for (const option of verb.options) {
      lines.push(`complete -c bucket ${when} ${fishFlag(option)}`);
    }
    const kind = verb.args;
    if (Array.isArray(kind)) lines.push(`complete -c bucket ${when} -a "${kind.join(' ')}"`);
    const both = kind === 'local-then-remote' || kind === 'remote-then-local' || kind === 'local-or-remote';
    if (kind === 'remote' || both) lines.push(`complete -c bucket ${when} -a "(bucket __complete (commandline -ct) 2>/dev/null)"`);
    if (both) lines.push(`complete -c bucket ${when} -F`);
  }
  return `${lines.join('\n')}\n`;
}

/** fish names a long option with -l, a short one with -s. */
function fishFlag(option: string): string {
  return option.startsWith('--') ? `-l ${option.slice(2)}` : `-s ${option.slice(1)}`;
}
