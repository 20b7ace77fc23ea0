// "How to read this" help for the apps' panels: a small "?" button in a panel's heading that shows or hides
// a short explanation under it. The button says whether the help is open (aria-expanded), and the text is
// an ordinary element, so screen readers and the browser tests find it.

import { h } from './dom';

export interface HelpToggle {
  button: HTMLButtonElement;
  text: HTMLElement;
}

/** A "?" button and its help text (hidden until the button is pressed). `id` names both for tests. */
export function helpToggle(id: string, title: string, ...paragraphs: (string | Node)[]): HelpToggle {
  const text = h(
    'div',
    { class: 'help-text', id: `help-${id}-text`, 'data-testid': `help-${id}-text`, role: 'note', hidden: true },
    ...paragraphs.map((p) => (typeof p === 'string' ? h('p', {}, p) : p)),
  );
  const button = h(
    'button',
    {
      type: 'button',
      class: 'help-button',
      'data-testid': `help-${id}`,
      'aria-expanded': 'false',
      'aria-controls': `help-${id}-text`,
      title: `How to read this: ${title}`,
      'aria-label': `Help: ${title}`,
    },
    '?',
  );
  button.addEventListener('click', () => {
    text.hidden = !text.hidden;
    button.setAttribute('aria-expanded', String(!text.hidden));
  });
  return { button, text };
}
