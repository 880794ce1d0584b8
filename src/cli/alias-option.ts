/**
 * A hidden second spelling of a flag (`--colour-profile` beside `--color-profile`): commander
 * stores an option under the camelCase of its own name, so the alias says which attribute it sets.
 * Both spellings then fill one option value, the last one given wins, and scripts written for the
 * old spelling keep working while --help shows only the new one.
 */
import { Option } from 'commander';

/** A hidden option that sets `attribute` (the camelCase name of the flag it stands for). */
export class AliasOption extends Option {
  constructor(
    flags: string,
    private readonly attribute: string,
  ) {
    super(flags);
    this.hideHelp();
  }

  override attributeName(): string {
    return this.attribute;
  }
}
