import { Box, Text } from 'ink'

/** One line of progress while waiting: a spinner frame, what, its status, the elapsed time. */
export function WaitView(props: { label: string; status: string; detail?: string; elapsedMs: number; frame: number; done?: boolean }) {
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']
  const color = props.status === 'ERROR' ? 'red' : props.done ? 'green' : 'yellow'
  const stopped = props.status === 'ERROR' || props.status === 'cancelled'
  return (
    <Box>
      <Text color={color}>{props.done ? '✔' : stopped ? '✖' : frames[props.frame % frames.length]} </Text>
      <Text>{props.label} </Text>
      <Text color={color} bold>
        {props.status}
      </Text>
      {props.detail ? <Text dimColor> {props.detail}</Text> : null}
      <Text dimColor> {(props.elapsedMs / 1000).toFixed(1)}s</Text>
    </Box>
  )
}
