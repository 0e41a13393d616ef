/**
 * Error codes of base-image building (platform/image). Every failure names the tool or file and
 * the fix; none leaves a half-written image behind (the builder writes to a temp path and renames).
 */
import { defineError } from '../errors.ts';

export const ImageToolMissing = defineError('image_tool_missing', 500, 'A tool the image builder needs is missing', 'build');
export const ImageInputMissing = defineError('image_input_missing', 400, 'An input of the image build is missing', 'build');
export const ImageToolFailed = defineError('image_tool_failed', 500, 'A tool of the image build failed', 'build');
export const ImageTooSmall = defineError('image_too_small', 400, 'The image size cannot hold its contents', 'build');
export const ImageInvalidOption = defineError('image_invalid_option', 400, 'Invalid image build option', 'validate');
