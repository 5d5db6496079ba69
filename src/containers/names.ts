/**
 * Container names as Docker makes and checks them.
 *
 * Pinned (moby namesgenerator and daemon/names.go):
 * - A default name is `adjective_surname` (surnames of notable scientists and engineers), never
 *   `boring_wozniak` ("Steve Wozniak is not boring"). When the name is taken Docker tries again,
 *   from the second try on with one random digit appended (`focused_turing3`), six tries in all,
 *   and then falls back to the short ID.
 * - A user's name must match `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (so at least two characters) after an
 *   optional leading `/`; otherwise: `Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-]
 *   are allowed`.
 * - A name in use: `Conflict. The container name "/x" is already in use by container "<id>". You
 *   have to remove (or rename) that container to be able to reuse that name.`
 * The word lists are this project's own. Pure (apart from the random choice).
 */

import { randomInt } from 'node:crypto';
import { TsbuildError } from '../errors.js';
import { shortId } from './ids.js';

export const ADJECTIVES: readonly string[] = [
  'adoring', 'agile', 'amazing', 'ardent', 'awesome', 'blissful', 'bold', 'boring', 'brave', 'bright',
  'busy', 'calm', 'careful', 'charming', 'cheerful', 'clever', 'cool', 'cosmic', 'crafty', 'curious',
  'daring', 'dazzling', 'determined', 'devoted', 'diligent', 'dreamy', 'eager', 'earnest', 'elated', 'elegant',
  'epic', 'excited', 'fearless', 'fervent', 'festive', 'focused', 'friendly', 'frosty', 'funny', 'gallant',
  'gentle', 'gifted', 'gracious', 'happy', 'hardy', 'heuristic', 'hopeful', 'humble', 'inspiring', 'jolly',
  'jovial', 'keen', 'kind', 'laughing', 'lively', 'loving', 'lucid', 'magical', 'merry', 'mighty',
  'modest', 'musing', 'mystic', 'nice', 'nimble', 'noble', 'nostalgic', 'optimistic', 'patient', 'peaceful',
  'pensive', 'plucky', 'practical', 'priceless', 'quiet', 'radiant', 'relaxed', 'resolute', 'serene', 'sharp',
  'silly', 'sleepy', 'steady', 'stoic', 'sunny', 'swift', 'tender', 'thirsty', 'trusting', 'upbeat',
  'vibrant', 'vigilant', 'vivid', 'wise', 'witty', 'youthful', 'zealous', 'zen',
];

export const SURNAMES: readonly string[] = [
  'agnesi', 'al-khwarizmi', 'allen', 'ampere', 'archimedes', 'aryabhata', 'babbage', 'backus', 'banach', 'bardeen',
  'bartik', 'bell', 'bernoulli', 'bhabha', 'blackburn', 'bohr', 'boltzmann', 'boole', 'borg', 'bose',
  'brahmagupta', 'brattain', 'burnell', 'cannon', 'cantor', 'carson', 'cauchy', 'cerf', 'chandrasekhar', 'chebyshev',
  'clarke', 'conway', 'copernicus', 'corbato', 'cori', 'crick', 'curie', 'dalton', 'darwin', 'davinci',
  'dijkstra', 'dirac', 'edison', 'einstein', 'elion', 'engelbart', 'erdos', 'euclid', 'euler', 'faraday',
  'fermat', 'fermi', 'feynman', 'fibonacci', 'fourier', 'franklin', 'galileo', 'galois', 'gauss', 'germain',
  'gibbs', 'godel', 'goldberg', 'goodall', 'hamilton', 'hamming', 'hawking', 'heisenberg', 'hertz', 'hilbert',
  'hodgkin', 'hollerith', 'hopper', 'hoover', 'hubble', 'huffman', 'humboldt', 'huygens', 'hypatia', 'jackson',
  'jemison', 'johnson', 'joule', 'kalam', 'kapitsa', 'kare', 'karp', 'kay', 'kelvin', 'kepler',
  'kernighan', 'khorana', 'kilby', 'knuth', 'kolmogorov', 'kovalevskaya', 'lagrange', 'lamarr', 'lamport', 'laplace',
  'lavoisier', 'leakey', 'leavitt', 'lederberg', 'leibniz', 'lemaitre', 'liskov', 'lovelace', 'lumiere', 'mayer',
  'maxwell', 'mccarthy', 'mcclintock', 'meitner', 'mendel', 'mendeleev', 'merkle', 'minsky', 'mirzakhani', 'moore',
  'morse', 'napier', 'nash', 'neumann', 'newton', 'nobel', 'noether', 'noyce', 'ohm', 'oppenheimer',
  'pascal', 'pasteur', 'pauli', 'pauling', 'perlman', 'planck', 'poincare', 'ptolemy', 'raman', 'ramanujan',
  'ride', 'riemann', 'ritchie', 'rivest', 'roentgen', 'rosalind', 'rutherford', 'sagan', 'salk', 'sammet',
  'schrodinger', 'shamir', 'shannon', 'shockley', 'sinoussi', 'snyder', 'somerville', 'stallman', 'stonebraker', 'sutherland',
  'swartz', 'tesla', 'thompson', 'torvalds', 'tu', 'turing', 'vaughan', 'volta', 'wallace', 'watson',
  'watt', 'wiles', 'wilkes', 'wilson', 'wing', 'wozniak', 'wright', 'wu', 'yalow', 'yonath',
  'zhukovsky', 'zuse', 'ardinghelli', 'beaver', 'chaplygin', 'driscoll', 'easley', 'elgamal', 'goldwasser', 'heyrovsky',
  'keller', 'khayyam', 'lalande', 'mahavira', 'margulis', 'montalcini', 'nightingale', 'payne', 'proskuriakova', 'shaw',
];

export const NAME_CHARS = '[a-zA-Z0-9][a-zA-Z0-9_.-]';
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** namesgenerator.GetRandomName: `adjective_surname`, plus a digit when `retry` > 0. */
export function randomName(retry: number, random: (n: number) => number = randomInt): string {
  for (;;) {
    const name = `${ADJECTIVES[random(ADJECTIVES.length)]}_${SURNAMES[random(SURNAMES.length)]}`;
    if (name === 'boring_wozniak') continue; // Steve Wozniak is not boring
    return retry > 0 ? name + String(random(10)) : name;
  }
}

/** A free default name for container `id`: six random tries, then the short ID. */
export function generateName(id: string, isTaken: (name: string) => boolean, random?: (n: number) => number): string {
  for (let i = 0; i < 6; i++) {
    const name = randomName(i, random);
    if (!isTaken(name)) return name;
  }
  return shortId(id);
}

/** Check a user's --name; returns it without a leading `/`. */
export function validateContainerName(name: string): string {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_PATTERN.test(bare)) {
    throw new TsbuildError('INVALID', `Invalid container name (${name}), only ${NAME_CHARS} are allowed`);
  }
  return bare;
}

/** Docker's error for a name held by another container. */
export function nameInUse(name: string, id: string): TsbuildError {
  const n = name.startsWith('/') ? name : `/${name}`;
  return new TsbuildError(
    'CONFLICT',
    `Conflict. The container name "${n}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`,
  );
}
