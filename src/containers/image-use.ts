/**
 * `rmi` of an image containers use, as Docker refuses it (moby daemon/images/image_delete.go):
 * - by name, without -f: `conflict: unable to remove repository reference "NAME" (must force) -
 *   container CTR is using its referenced image IMG` (when that name is the image's last);
 * - by ID, without -f: `conflict: unable to delete IMG (must be forced) - image is being used by
 *   stopped container CTR`;
 * - a running container's image, by ID, even with -f: `conflict: unable to delete IMG (cannot be
 *   forced) - image is being used by running container CTR`.
 * IDs shown short (12). The image's layers stay pinned for the containers whatever happens.
 */
import { TsbuildError } from '../errors.js';
import { hexOf, type Digest } from '../image/digest.js';
import type { ImageCatalog } from '../image/store-roles.js';
import { shortId } from './ids.js';
import type { Containers } from './containers.js';

export async function imageInUse(store: ImageCatalog, containers: Containers, word: string, force: boolean): Promise<void> {
  const img = await store.getImage(word);
  if (!img) return; // the store reports it
  const users = await containers.usersOf(img.id);
  if (users.length === 0) return;
  const short = hexOf(img.id as Digest).slice(0, 12);
  const byId = img.tags.length === 0 || /^(sha256:)?[0-9a-f]{4,64}$/.test(word) && !img.tags.some((t) => t.endsWith(`/${word}`) || t.endsWith(`/${word}:latest`));
  const running = users.find((u) => u.state.Running);
  if (byId && running) {
    throw new TsbuildError('CONFLICT', `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${shortId(running.record.Id)}`);
  }
  if (force) return;
  const user = users[0]!;
  if (byId) throw new TsbuildError('CONFLICT', `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${shortId(user.record.Id)}`);
  if (img.tags.length <= 1) {
    throw new TsbuildError('CONFLICT', `conflict: unable to remove repository reference "${word}" (must force) - container ${shortId(user.record.Id)} is using its referenced image ${short}`);
  }
}
